/* SPDX-License-Identifier: MIT */
#pragma once

/* Renewing an allow entry in place: its expires, approver, approval date and
 * ticket rewritten in the file's own text, everything else (comments,
 * layout, other entries) kept byte for byte. Pure: text in, text out; the
 * caller checks the result with the daemon's parser before writing it. */

typedef struct AllowRenewal {
        const char *expires, *approved_by, *approved_on, *ticket; /* NULL: kept as it is */
} AllowRenewal;

/* In text (an allow.d file that loads), the entry whose group starts on line
 * gets each value given: a key it has is replaced where it stands, a key it
 * lacks is added after its approved_by. 0 with *ret the new text; -ENOENT when
 * no entry starts on that line; -ENOTUNIQ when the layout leaves an edit
 * ambiguous (two entries on one line, a key written twice on a line, a value
 * split into several strings): that entry is edited by hand; -EINVAL when
 * the text does not parse; -ENOMEM. */
int allow_renew_text(const char *text, unsigned line, const AllowRenewal *r, char **ret);
