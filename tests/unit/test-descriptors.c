/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "macro.h"
#include "usb-descriptors.h"

static const uint8_t device[18] = { 18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0x00, 0x01, 1, 2, 3, 1 };

static size_t build(uint8_t *buf, const uint8_t *rest, size_t n) {
        memcpy(buf, device, sizeof device);
        memcpy(buf + sizeof device, rest, n);
        return sizeof device + n;
}

static void test_composite(void **state) {
        const uint8_t cfg[] = {
                9, 2, 9 + 9 + 9 + 9, 0, 2, 1, 0, 0x80, 50,
                9, 4, 0, 0, 1, 3, 1, 1, 0,      /* keyboard */
                9, 0x21, 0x11, 1, 0, 1, 0x22, 63, 0,
                9, 4, 1, 0, 2, 8, 6, 0x50, 4,   /* storage, iInterface 4 */
        };
        uint8_t buf[128];
        UsbDescInterface ifs[8];
        UsbDescDevice dev;
        int n = usb_descriptors_parse(buf, build(buf, cfg, sizeof cfg), &dev, ifs, 8);
        assert_int_equal(n, 2);
        assert_int_equal(dev.vendor, 0x0781);
        assert_int_equal(dev.product, 0x5567);
        assert_int_equal(ifs[0].cls, 3);
        assert_int_equal(ifs[1].cls, 8);
        assert_int_equal(ifs[1].number, 1);
        assert_int_equal(ifs[1].configuration, 1);
        assert_int_equal(ifs[1].iinterface, 4);
}

static void test_configuration_spans(void **state) {
        /* configuration 1 (36 bytes) holds a fake configuration descriptor
         * "2": the storage setting after it is still configuration 1's */
        const uint8_t cfg[] = {
                9, 2, 36, 0, 1, 1, 0, 0x80, 50,
                9, 4, 0, 0, 1, 3, 1, 1, 0,      /* keyboard, alt 0 */
                9, 2, 9, 0, 1, 2, 0, 0x80, 50,  /* inside the span: skipped */
                9, 4, 0, 1, 2, 8, 6, 0x50, 0,   /* storage, alt 1 */
                9, 2, 18, 0, 1, 3, 0, 0x80, 50, /* configuration 3, after the span */
                9, 4, 0, 0, 1, 7, 1, 2, 0,
        };
        uint8_t buf[128];
        UsbDescInterface ifs[8];
        int n = usb_descriptors_parse(buf, build(buf, cfg, sizeof cfg), NULL, ifs, 8);
        assert_int_equal(n, 3);
        assert_int_equal(ifs[1].cls, 8);
        assert_int_equal(ifs[1].alternate, 1);
        assert_int_equal(ifs[1].configuration, 1);
        assert_int_equal(ifs[1].configuration_nested, 2); /* or 2's, had the kernel read less */
        assert_true(usb_desc_interface_in_configuration(&ifs[1], 1));
        assert_true(usb_desc_interface_in_configuration(&ifs[1], 2));
        assert_false(usb_desc_interface_in_configuration(&ifs[1], 3));
        assert_int_equal(ifs[0].configuration_nested, 0);
        assert_int_equal(ifs[2].configuration, 3);
        assert_int_equal(ifs[2].configuration_nested, 0);
        assert_false(usb_desc_interface_in_configuration(&ifs[2], 0));
}

static void test_garbage(void **state) {
        uint8_t buf[64];
        UsbDescInterface ifs[4];
        assert_true(usb_descriptors_parse(NULL, 0, NULL, ifs, 4) < 0);
        assert_true(usb_descriptors_parse(device, 10, NULL, ifs, 4) < 0);
        /* bLength 0 would loop forever if not stopped */
        const uint8_t zero[] = { 0, 4, 0, 0, 0, 8, 0, 0, 0 };
        assert_int_equal(usb_descriptors_parse(buf, build(buf, zero, sizeof zero), NULL, ifs, 4), 0);
        /* a descriptor running past the end */
        const uint8_t past[] = { 200, 4, 0, 0, 0, 8, 0, 0, 0 };
        assert_int_equal(usb_descriptors_parse(buf, build(buf, past, sizeof past), NULL, ifs, 4), 0);
        /* a short interface descriptor is skipped, not read past */
        const uint8_t shortif[] = { 4, 4, 0, 0 };
        assert_int_equal(usb_descriptors_parse(buf, build(buf, shortif, sizeof shortif), NULL, ifs, 4), 0);
}

static void test_bounded(void **state) {
        uint8_t buf[18 + 9 * 10];
        UsbDescInterface ifs[4];
        memcpy(buf, device, 18);
        for (int i = 0; i < 10; i++) {
                const uint8_t d[] = { 9, 4, (uint8_t) i, 0, 0, 8, 6, 0x50, 0 };
                memcpy(buf + 18 + 9 * i, d, 9);
        }
        assert_int_equal(usb_descriptors_parse(buf, sizeof buf, NULL, ifs, 4), 4);
}

/* ---- reading the attribute: sysfs may hand it over in several read()s ---- */

/* A socket that gives one packet a read(): chunks of n bytes, then EOF. */
static int chunked_fd(const uint8_t *data, size_t len, size_t n) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        for (size_t o = 0; o < len; o += n)
                assert_int_equal(write(sv[1], data + o, MIN(n, len - o)), (ssize_t) MIN(n, len - o));
        assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
        close(sv[1]);
        return sv[0];
}

static void test_read_in_chunks(void **state) {
        const uint8_t cfg[] = {
                9, 2, 9 + 9 + 9 + 9, 0, 2, 1, 0, 0x80, 50,
                9, 4, 0, 0, 1, 3, 1, 1, 0,
                9, 0x21, 0x11, 1, 0, 1, 0x22, 63, 0,
                9, 4, 1, 0, 2, 8, 6, 0x50, 4,
        };
        uint8_t all[128], *got = NULL, one[128];
        size_t len = build(all, cfg, sizeof cfg), got_len = 0;
        UsbDescInterface ifs[8];
        int fd;

        /* What one read() gets: the first chunk only, not even a device descriptor. */
        fd = chunked_fd(all, len, 7);
        assert_int_equal(read(fd, one, sizeof one), 7);
        assert_true(usb_descriptors_parse(one, 7, NULL, ifs, 8) < 0);
        close(fd);

        /* Read to the end, every chunk. */
        for (size_t n = 1; n <= len; n += 6) {
                fd = chunked_fd(all, len, n);
                assert_int_equal(usb_descriptors_read(fd, USB_DESC_READ_MAX, &got, &got_len), 0);
                close(fd);
                assert_int_equal(got_len, len);
                assert_memory_equal(got, all, len);
                assert_int_equal(usb_descriptors_parse(got, got_len, NULL, ifs, 8), 2);
                assert_int_equal(ifs[1].cls, 8);
                free(got);
        }
}

static void test_read_bounded(void **state) {
        uint8_t data[16] = { 0 }, *got = NULL;
        size_t got_len = 0;
        int fd, status;
        pid_t pid;
        int p[2];

        /* exactly max bytes is fine, one more is not */
        fd = chunked_fd(data, 10, 3);
        assert_int_equal(usb_descriptors_read(fd, 10, &got, &got_len), 0);
        assert_int_equal(got_len, 10);
        free(got);
        close(fd);
        fd = chunked_fd(data, 11, 3);
        assert_int_equal(usb_descriptors_read(fd, 10, &got, &got_len), -EFBIG);
        close(fd);
        /* empty */
        fd = chunked_fd(data, 0, 1);
        assert_int_equal(usb_descriptors_read(fd, 10, &got, &got_len), 0);
        assert_int_equal(got_len, 0);
        free(got);
        close(fd);

        /* A writer that never stops: cut at 64 KiB, not read to the end. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                static uint8_t chunk[1000];
                close(p[0]);
                for (;;)
                        if (write(p[1], chunk, sizeof chunk) < 0)
                                _exit(0);
        }
        close(p[1]);
        assert_int_equal(usb_descriptors_read(p[0], USB_DESC_READ_MAX, &got, &got_len), -EFBIG);
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_composite),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_configuration_spans),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_read_in_chunks),
                cmocka_unit_test(test_read_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
