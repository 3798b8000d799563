/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-alias-index.h"

static const char modules_alias[] =
        "# Aliases extracted from modules themselves.\n"
        "alias pci:v00008086d*sv*sd*bc0Csc03i30* xhci_pci\n"
        "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n"
        "alias usb:v04B8p0602d0110dc*dsc*dp*ic*isc*ip*in* usb_storage\n"
        "alias usb:v0BDAp0129d*dc*dsc*dp*ic*isc*ip*in* rtsx_usb\n"
        "alias usb:v*p*d*dc*dsc*dp*ic03isc*ip*in* usbhid\n"
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* usblp\n"
        "alias usb:v19D2p*d*dc*dsc*dp*icFFiscFFipFFin* option\n"
        "alias usb:v05C6p9001d0[0-2]*dc*dsc*dp*ic*isc*ip*in* qcserial\n"
        "alias usbfunc:acm usb_f_acm\n"
        /* hostile or malformed: none of these is kept */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in*\n"                  /* no module */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* usblp extra\n"      /* a token too many */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in[0-9 bad_bracket\n"   /* unbalanced */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in]* bad_close\n"       /* a ] alone */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* bad\x01name\n"      /* control byte */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* bad.name\n"         /* not a module name */
        "alias usb:v*p*d*dc*dsc*dp*ic07*i*s*c*0*1*i*p*0*2*i*n* stars\n" /* > 12 '*' */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* usb-dashed\n"       /* kept, as usb_dashed */
        "alias usb:v*p*d*dc*dsc*dp*ic07isc01ip02in* usblp";             /* a duplicate, and no newline at the end */

static void test_index_buckets(void **state) {
        UsbAliasIndex idx;
        assert_int_equal(usb_alias_index_parse(modules_alias, sizeof modules_alias - 1, &idx), 0);
        assert_int_equal(idx.n_product, 3); /* 04B8:0602, 0BDA:0129, 05C6:9001 */
        assert_int_equal(idx.n_vendor, 1);  /* 19D2 */
        assert_int_equal(idx.n_other, 5);   /* the usb:v* ones, the dashed and the duplicate */
        assert_int_equal(idx.n_skipped, 7);
        usb_alias_index_done(&idx);

        assert_int_equal(usb_alias_index_parse("", 0, &idx), 0);
        assert_int_equal(idx.n_product + idx.n_vendor + idx.n_other, 0);
        usb_alias_index_done(&idx);
}

static char *match(const UsbAliasIndex *idx, const char *modalias) {
        char *list = NULL;
        assert_int_equal(usb_alias_index_match(idx, modalias, &list), 0);
        return list ? list : strdup("");
}

static void test_index_match(void **state) {
        UsbAliasIndex idx;
        char *s;
        assert_int_equal(usb_alias_index_parse(modules_alias, sizeof modules_alias - 1, &idx), 0);

        /* the file's order, each module once */
        s = match(&idx, "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00");
        assert_string_equal(s, "usb_storage usblp usb_dashed");
        free(s);
        s = match(&idx, "usb:v04B8p0602d0200dc00dsc00dp00ic07isc01ip02in00");
        assert_string_equal(s, "usblp usb_dashed");
        free(s);
        s = match(&idx, "usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00");
        assert_string_equal(s, "rtsx_usb");
        free(s);
        s = match(&idx, "usb:v19D2p0031d0000dc00dsc00dp00icFFiscFFipFFin03");
        assert_string_equal(s, "option");
        free(s);
        /* a bracket range of bcdDevice */
        s = match(&idx, "usb:v05C6p9001d0100dc00dsc00dp00icFFiscFFipFFin00");
        assert_string_equal(s, "qcserial");
        free(s);
        s = match(&idx, "usb:v05C6p9001d0300dc00dsc00dp00icFFiscFFipFFin00");
        assert_string_equal(s, "");
        free(s);
        /* lowercase hex: no bucket, and fnmatch is case-sensitive as in libkmod */
        s = match(&idx, "usb:v0bdap0129d3960dcFFdscFFdpFFicFFisc06ip50in00");
        assert_string_equal(s, "");
        free(s);
        s = match(&idx, "usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00");
        assert_string_equal(s, "usbhid");
        free(s);
        /* appended to what the list holds, not twice */
        s = strdup("usblp");
        assert_int_equal(usb_alias_index_match(&idx, "usb:v1A2Bp3C4Dd0100dc00dsc00dp00ic07isc01ip02in00", &s), 0);
        assert_string_equal(s, "usblp usb_dashed");
        free(s);
        usb_alias_index_done(&idx);
}

/* The index keeps offsets: a mapping written over since yields fewer
 * matches, never a read past its end. */
static void test_index_buffer_changed(void **state) {
        char buf[sizeof modules_alias];
        UsbAliasIndex idx;
        char *s;
        memcpy(buf, modules_alias, sizeof buf);
        assert_int_equal(usb_alias_index_parse(buf, sizeof buf - 1, &idx), 0);
        memset(buf, 'x', sizeof buf - 1);
        s = match(&idx, "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00");
        assert_string_equal(s, "");
        free(s);
        usb_alias_index_done(&idx);
}

static void test_index_bounds(void **state) {
        UsbAliasIndex idx;
        _cleanup_free_ char *big = NULL;
        size_t n = 8192;

        assert_int_equal(usb_alias_index_parse("", (size_t) USB_ALIAS_FILE_MAX + 1, &idx), -EFBIG);

        /* an over-long line, NUL bytes, then a good line */
        big = malloc(n + 128);
        assert_non_null(big);
        memset(big, 'a', n);
        memcpy(big, "alias usb:v*", 12);
        big[100] = 0;
        big[n - 1] = '\n';
        strcpy(big + n, "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n");
        assert_int_equal(usb_alias_index_parse(big, strlen(big + n) + n, &idx), 0);
        assert_int_equal(idx.n_other, 1);
        usb_alias_index_done(&idx);
}

static void test_normalize(void **state) {
        char out[USB_ALIAS_MODALIAS_MAX + 1];
        char longer[USB_ALIAS_MODALIAS_MAX + 2];
        assert_int_equal(usb_alias_normalize("usb:v-a[-]b", out), 0);
        assert_string_equal(out, "usb:v_a[-]b");
        assert_int_equal(usb_alias_normalize("usb:v[a", out), -EINVAL);
        assert_int_equal(usb_alias_normalize("usb:v]", out), -EINVAL);
        assert_int_equal(usb_alias_normalize("usb:v a", out), -EINVAL);
        assert_int_equal(usb_alias_normalize("usb:v\x7f", out), -EINVAL);
        memset(longer, 'a', sizeof longer - 1);
        longer[sizeof longer - 1] = 0;
        assert_int_equal(usb_alias_normalize(longer, out), -EINVAL);
        longer[sizeof longer - 2] = 0;
        assert_int_equal(usb_alias_normalize(longer, out), 0);
}

static const char modprobe_conf[] = "# a comment\n"
                                    "alias usb:v1234pABCDd*dc*dsc*dp*ic*isc*ip*in* acme-sd\n" /* acme_sd */
                                    "  alias\tusb:v1234p*d*dc*dsc*dp*ic*isc*ip*in*   second_rule  trailing words\n"
                                    "alias usb:v5678p0001d*dc*dsc*dp*ic*isc*ip*in* \\\n"
                                    "joined_line\n"
                                    "alias pci:v*d* not_usb\n"
                                    "alias * anything\n"               /* matches a usb: modalias too, as for libkmod */
                                    "alias usb:v9999p0001* bad.name\n" /* kept: a match ends the lookup */
                                    "alias usb:v*[ broken\n"
                                    "alias usb:vFFFF*\n"
                                    "blacklist usb_storage\n"
                                    "alias usb:v0000\0p* cut_at_nul\n"
                                    "alias usb:v7777* trailing_backslash\\";

static void test_conf(void **state) {
        UsbBuiltinAliases rules = { 0 };
        char *s = NULL;

        assert_int_equal(usb_alias_conf_parse(modprobe_conf, sizeof modprobe_conf - 1, &rules), 0);
        assert_int_equal(rules.n, 6);
        assert_string_equal(rules.items[0].module, "acme_sd");
        assert_string_equal(rules.items[1].module, "second_rule");
        assert_string_equal(rules.items[2].module, "joined_line");
        assert_string_equal(rules.items[3].pattern, "*");
        assert_string_equal(rules.items[4].module, "bad.name");
        assert_string_equal(rules.items[5].module, "trailing_backslash\xff"); /* libkmod stores getc()'s EOF */

        assert_int_equal(usb_alias_conf_match(&rules, "usb:v1234pABCDd0100dc00dsc00dp00icFFisc00ip00in00", &s), 3);
        assert_string_equal(s, "acme_sd second_rule anything");
        free(s);
        s = NULL;
        /* a match whose module name is unusable: counted, not listed */
        assert_int_equal(usb_alias_conf_match(&rules, "usb:v9999p0001d0100dc00dsc00dp00icFFisc00ip00in00", &s), 2);
        assert_string_equal(s, "anything");
        free(s);
        usb_builtin_aliases_done(&rules);

        assert_int_equal(usb_alias_conf_parse("", 0, &rules), 0);
        assert_int_equal(rules.n, 0);
        usb_builtin_aliases_done(&rules);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_index_buckets),
                cmocka_unit_test(test_index_match),
                cmocka_unit_test(test_index_buffer_changed),
                cmocka_unit_test(test_index_bounds),
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_conf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
