/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "usb-repeat.h"

#define W (60 * USEC_PER_SEC)
#define S USEC_PER_SEC

static unsigned freed;
static void payload_free(void *p) {
        freed++;
        free(p);
}

static void test_first_then_repeats_then_window_closes(void **state) {
        UsbRepeatTable t = { .payload_free = payload_free };
        UsbRepeat *e, ev, out;

        assert_int_equal(usb_repeat_next_due(&t), USEC_INFINITY);
        /* the first block: recorded by the caller */
        assert_int_equal(usb_repeat_note(&t, "A", W, 1000 * S, 5000 * S, &e, &ev), 0);
        assert_null(ev.identity);
        assert_int_equal(usb_repeat_next_due(&t), USEC_INFINITY); /* nothing to record: no wakeup */
        /* 49 repeats, one a second: the window slides */
        for (unsigned k = 1; k <= 49; k++) {
                assert_int_equal(usb_repeat_note(&t, "A", W, (1000 + k) * S, (5000 + k) * S, &e, &ev), 1);
                assert_int_equal(e->repeats, k);
                free(e->payload);
                e->payload = strdup("latest");
        }
        assert_int_equal(e->first_at, 5001 * S);
        assert_int_equal(e->last_at, 5049 * S);
        assert_int_equal(usb_repeat_next_due(&t), 1049 * S + W);
        /* another identity in between is a first of its own */
        assert_int_equal(usb_repeat_note(&t, "B", W, 1020 * S, 5020 * S, &e, &ev), 0);
        assert_false(usb_repeat_pop_due(&t, 1049 * S + W - 1, &out));
        /* B (no repeats) is dropped silently when due; A comes out with its count */
        assert_true(usb_repeat_pop_due(&t, 1049 * S + W, &out));
        assert_string_equal(out.identity, "A");
        assert_int_equal(out.repeats, 49);
        assert_string_equal(out.payload, "latest");
        usb_repeat_clear(&t, &out);
        assert_false(usb_repeat_pop_due(&t, 1049 * S + W, &out));
        assert_int_equal(t.n, 0);
        assert_int_equal(usb_repeat_next_due(&t), USEC_INFINITY);
        /* after the window: a first again */
        assert_int_equal(usb_repeat_note(&t, "A", W, 2000 * S, 6000 * S, &e, &ev), 0);
        /* a window without repeats that closed unseen: reused, a first again */
        assert_int_equal(usb_repeat_note(&t, "A", W, 2000 * S + W, 7000 * S, &e, &ev), 0);
        assert_int_equal(t.n, 1);
        assert_int_equal(usb_repeat_note(&t, "A", W, 2001 * S + W, 7001 * S, &e, &ev), 1);
        usb_repeat_table_done(&t);
}

static void test_closed_window_not_yet_popped(void **state) {
        UsbRepeatTable t = { .payload_free = payload_free };
        UsbRepeat *e, ev, out;

        assert_int_equal(usb_repeat_note(&t, "A", W, 0, 0, &e, &ev), 0);
        assert_int_equal(usb_repeat_note(&t, "A", W, 1, 1, &e, &ev), 1);
        e->payload = strdup("x");
        /* the window closed but nobody popped it: a new first, the old count is kept */
        assert_int_equal(usb_repeat_note(&t, "A", W, W + 10, W + 10, &e, &ev), 0);
        assert_int_equal(usb_repeat_note(&t, "A", W, W + 11, W + 11, &e, &ev), 1);
        assert_int_equal(e->repeats, 1);
        assert_true(usb_repeat_pop_due(&t, W + 11, &out));
        assert_int_equal(out.repeats, 1);
        assert_int_equal(out.seen_mono, 1);
        usb_repeat_clear(&t, &out);
        assert_int_equal(t.n, 1);
        usb_repeat_table_done(&t);
}

static void test_bounded_evicts_least_recent(void **state) {
        UsbRepeatTable t = { .payload_free = payload_free };
        UsbRepeat *e, ev;
        char id[16];

        freed = 0;
        for (unsigned k = 0; k < USB_REPEAT_MAX; k++) {
                snprintf(id, sizeof id, "D%u", k);
                assert_int_equal(usb_repeat_note(&t, id, W, 10 + k, 10 + k, &e, &ev), 0);
        }
        /* D0 repeats (now the most recent); D1 is the least recent, without repeats */
        assert_int_equal(usb_repeat_note(&t, "D0", W, 100, 100, &e, &ev), 1);
        e->payload = strdup("d0");
        assert_int_equal(usb_repeat_note(&t, "new1", W, 101, 101, &e, &ev), 0);
        assert_null(ev.identity); /* D1 had nothing to say */
        assert_int_equal(t.n, USB_REPEAT_MAX);
        /* D2 ... D63 seen again: D0 (at 100) is now the least recent */
        for (unsigned k = 2; k < USB_REPEAT_MAX; k++) {
                snprintf(id, sizeof id, "D%u", k);
                assert_int_equal(usb_repeat_note(&t, id, W, 200 + k, 200 + k, &e, &ev), 1);
        }
        assert_int_equal(usb_repeat_note(&t, "new2", W, 300, 300, &e, &ev), 0);
        /* the evicted D0 comes back to be recorded at once */
        assert_non_null(ev.identity);
        assert_string_equal(ev.identity, "D0");
        assert_int_equal(ev.repeats, 1);
        assert_string_equal(ev.payload, "d0");
        usb_repeat_clear(&t, &ev);
        assert_int_equal(t.n, USB_REPEAT_MAX);
        usb_repeat_table_done(&t);
        assert_int_equal(t.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_then_repeats_then_window_closes),
                cmocka_unit_test(test_closed_window_not_yet_popped),
                cmocka_unit_test(test_bounded_evicts_least_recent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
