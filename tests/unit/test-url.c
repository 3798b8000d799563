/* SPDX-License-Identifier: MIT */
/* common/url.c: the URLs of collector.url and collector.proxy, with the
 * decisions and texts config.c had with curl_url(), and the stricter ones
 * url.h lists. tests/fuzz/fuzz-url.c compares it with curl itself. */
#include "unit.h"

#include "macro.h"
#include "url.h"

typedef enum { COLLECTOR, PROXY } Kind;

typedef struct Good {
        Kind kind;
        const char *url, *scheme, *host;
        unsigned port;
        const char *path, *query;
} Good;

static const Good goods[] = {
        { COLLECTOR, "https://c.example", "https", "c.example", 443, "/", NULL },
        { COLLECTOR, "https://collector.example.lg.jp:8443/v1/events", "https", "collector.example.lg.jp", 8443,
          "/v1/events", NULL },
        { COLLECTOR, "https://127.0.0.1:8443/", "https", "127.0.0.1", 8443, "/", NULL },
        { COLLECTOR, "https://0.0.0.0/", "https", "0.0.0.0", 443, "/", NULL },
        { COLLECTOR, "https://[::1]:8443/ingest", "https", "[::1]", 8443, "/ingest", NULL },
        /* written out in full: given back as inet_ntop() writes it, as curl does */
        { COLLECTOR, "https://[0:0:0:0:0:0:0:1]/", "https", "[::1]", 443, "/", NULL },
        { COLLECTOR, "https://[::FFFF:192.0.2.1]:443/x", "https", "[::ffff:192.0.2.1]", 443, "/x", NULL },
        /* scheme case-insensitive and lowered; host, path, query as written */
        { COLLECTOR, "HTTPS://C.Example/A?b=c&d=%2F", "https", "C.Example", 443, "/A", "b=c&d=%2F" },
        { COLLECTOR, "https://c.example?x", "https", "c.example", 443, "/", "x" },
        { COLLECTOR, "https://c.example/?", "https", "c.example", 443, "/", "" },
        { COLLECTOR, "https://c.example/a?b/c?d", "https", "c.example", 443, "/a", "b/c?d" },
        { COLLECTOR, "https://c_d.example/", "https", "c_d.example", 443, "/", NULL },
        { COLLECTOR, "https://xn--wgv71a119e.jp/", "https", "xn--wgv71a119e.jp", 443, "/", NULL },
        { COLLECTOR, "https://1e100.example/", "https", "1e100.example", 443, "/", NULL },
        { COLLECTOR, "https://c.example:65535//a//b/.x/..y/", "https", "c.example", 65535, "//a//b/.x/..y/", NULL },
        { COLLECTOR, "https://c.example/~u/a-b_c.d!$&'()*+,;=:@%41", "https", "c.example", 443,
          "/~u/a-b_c.d!$&'()*+,;=:@%41", NULL },
        { COLLECTOR, "https://localhost:1/", "https", "localhost", 1, "/", NULL },
        { PROXY, "http://proxy.example.lg.jp:8080", "http", "proxy.example.lg.jp", 8080, "/", NULL },
        { PROXY, "http://proxy.example:8080/", "http", "proxy.example", 8080, "/", NULL },
        { PROXY, "https://proxy.example:3128", "https", "proxy.example", 3128, "/", NULL },
        { PROXY, "HTTP://127.0.0.1:3128", "http", "127.0.0.1", 3128, "/", NULL },
        { PROXY, "http://[2001:db8::1]:3128", "http", "[2001:db8::1]", 3128, "/", NULL },
};

typedef struct Bad {
        Kind kind;
        const char *url, *error;
} Bad;

#define NOT_URL(u, why) \
        { COLLECTOR, u, "'url' is not a valid URL: '" u "' (" why ")" }
#define NOT_PROXY(u, why) \
        { \
                PROXY, u, \
                        "'proxy' must be the URL of an HTTP proxy such as \"http://proxy.example:8080\", not '" u \
                        "' (" why ")" \
        }

static const Bad bads[] = {
        /* what config.c refused with curl, in its words */
        { COLLECTOR, "https://c.example/a b", "'url' contains a space or a control character" },
        { COLLECTOR, "https://c.example/\x01", "'url' contains a space or a control character" },
        { COLLECTOR, "https://c.example/\x7f", "'url' contains a space or a control character" },
        { COLLECTOR, "https://c.example/\t", "'url' contains a space or a control character" },
        { COLLECTOR, "http://c.example/v1",
          "'url' must be an https:// URL (events are only ever sent over verified TLS), not 'http://c.example/v1'" },
        { COLLECTOR, "ftp://c.example/",
          "'url' must be an https:// URL (events are only ever sent over verified TLS), not 'ftp://c.example/'" },
        NOT_URL("https://", "no host"),
        NOT_URL("https:///", "the scheme must be followed by exactly two slashes"),
        NOT_URL("https://:443/", "no host"),
        NOT_URL("https:c.example", "no scheme such as https://"),
        NOT_URL("c.example", "no scheme such as https://"),
        NOT_URL("://c.example", "no scheme such as https://"),
        NOT_URL("1https://c.example", "no scheme such as https://"),
        NOT_URL("https://c.example:65536/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example:44x/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example:-1/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example:1:2/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://[::1/", "an IPv6 address without its ']'"),
        NOT_URL("https://[::1]x/", "only a port may follow an IPv6 address"),
        NOT_URL("https://[::g]/", "not an IPv6 address in the brackets"),
        NOT_URL("https://[1:2:3:4:5:6:7:8:9]/", "not an IPv6 address in the brackets"),
        NOT_URL("https://[]/", "not an IPv6 address in the brackets"),
        NOT_URL("https://::1/", "no host"),
        NOT_URL("https://c.example\\@evil.example/", "a user name or password is not allowed"),
        NOT_URL("https://c.exa{mple/", "the host may only have letters, digits, '-', '_' and dots"),
        NOT_URL("https://c.example\\x/", "the host may only have letters, digits, '-', '_' and dots"),
        /* accepted by curl + config.c, refused here (url.h says why) */
        NOT_URL("https://user:pw@c.example/", "a user name or password is not allowed"),
        NOT_URL("https://@c.example/", "a user name or password is not allowed"),
        NOT_URL("https:/c.example/", "the scheme must be followed by exactly two slashes"),
        NOT_URL("https:///c.example/", "the scheme must be followed by exactly two slashes"),
        NOT_URL("https://c.example/#frag", "a fragment ('#') is not allowed"),
        NOT_URL("https://c.example#", "a fragment ('#') is not allowed"),
        NOT_URL("https://c.example:/", "an empty port"),
        NOT_URL("https://c.example:0/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example:08443/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example:000443/", "the port must be a number from 1 to 65535"),
        NOT_URL("https://c.example/\xe6\x97\xa5", "a byte outside ASCII (a host in punycode, a path percent-encoded)"),
        NOT_URL("https://\xe6\x97\xa5\xe6\x9c\xac.jp/",
                "a byte outside ASCII (a host in punycode, a path percent-encoded)"),
        NOT_URL("https://c%2eexample/", "percent-encoding in the host is not allowed"),
        NOT_URL("https://c..example/", "the host has an empty label (two dots, or a dot at either end)"),
        NOT_URL("https://c.example./", "the host has an empty label (two dots, or a dot at either end)"),
        NOT_URL("https://.c.example/", "the host has an empty label (two dots, or a dot at either end)"),
        NOT_URL("https://-c.example/", "a label of the host begins or ends with '-'"),
        NOT_URL("https://c-.example/", "a label of the host begins or ends with '-'"),
        NOT_URL("https://c~d.example/", "the host may only have letters, digits, '-', '_' and dots"),
        NOT_URL("https://c.example|x/", "the host may only have letters, digits, '-', '_' and dots"),
        NOT_URL("https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example/",
                "a label of the host is longer than 63 bytes"),
        NOT_URL("https://127.1/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://0x7f.0.0.1/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://127.0.0.0x1/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://0177.0.0.1/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://2130706433/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://1.2.3.4.5/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://999.1.1.1/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://c.example.0x/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://c.123/", "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)"),
        NOT_URL("https://[fe80::1%25eth0]/", "an IPv6 zone is not allowed"),
        NOT_URL("https://[fe80::1%eth0]/", "an IPv6 zone is not allowed"),
        NOT_URL("https://c.example/a/../b", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/./a", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/a/..", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/a/.?x", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/a/%2e%2E/b", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/a/.%2e", "a '.' or '..' segment in the path is not allowed"),
        NOT_URL("https://c.example/a%zz", "a '%' that is not followed by two hex digits"),
        NOT_URL("https://c.example/a%4", "a '%' that is not followed by two hex digits"),
        NOT_URL("https://c.example/a%", "a '%' that is not followed by two hex digits"),
        NOT_URL("https://c.example/a\\b", "the path has a character that must be percent-encoded"),
        NOT_URL("https://c.example/a\"b", "the path has a character that must be percent-encoded"),
        NOT_URL("https://c.example/a[b]", "the path has a character that must be percent-encoded"),
        NOT_URL("https://c.example/?a{b}", "the query has a character that must be percent-encoded"),
        /* collector.proxy */
        { PROXY, "http://proxy.example:8080/\x01", "'proxy' contains a space or a control character" },
        NOT_PROXY("proxy.example:8080", "no scheme such as https://"),
        NOT_PROXY("socks5://proxy.example:1080", "the scheme must be http:// or https://"),
        NOT_PROXY("http://proxy.example:8080/x", "a proxy has no path"),
        NOT_PROXY("http://proxy.example:8080//", "a proxy has no path"),
        NOT_PROXY("http://proxy.example:8080/?x", "a proxy has no query"),
        NOT_PROXY("http://proxy.example:8080?", "a proxy has no query"),
        NOT_PROXY("http://proxy.example", "the port is missing (without one, 1080 would be used)"),
        NOT_PROXY("http://proxy.example/", "the port is missing (without one, 1080 would be used)"),
        NOT_PROXY("http://user:pw@proxy.example:8080", "a user name or password is not allowed"),
        NOT_PROXY("http://proxy.example:0", "the port must be a number from 1 to 65535"),
};

static int check(Kind kind, const char *url, UrlParts *ret, char **ret_error) {
        return kind == PROXY ? url_check_proxy(url, ret, ret_error) : url_check_collector(url, ret, ret_error);
}

static void test_good(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(goods); i++) {
                const Good *g = &goods[i];
                _cleanup_free_ char *err = NULL;
                UrlParts p = { 0 };
                int r = check(g->kind, g->url, &p, &err);

                if (r != 0)
                        fail_msg("'%s': %d %s", g->url, r, strna(err));
                assert_null(err);
                assert_string_equal(p.scheme, g->scheme);
                assert_string_equal(p.host, g->host);
                assert_int_equal(p.port, g->port);
                assert_string_equal(p.path, g->path);
                if (g->query)
                        assert_string_equal(p.query, g->query);
                else
                        assert_null(p.query);
                url_parts_done(&p);
                /* without parts */
                assert_int_equal(check(g->kind, g->url, NULL, &err), 0);
        }
}

static void test_bad(void **state) {
        unsigned failed = 0;
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bads); i++) {
                const Bad *b = &bads[i];
                _cleanup_free_ char *err = NULL;
                UrlParts p = { 0 };
                int r = check(b->kind, b->url, &p, &err);

                if (r != -EINVAL || !err || !streq(err, b->error)) {
                        print_error("'%s': %d\n   got: %s\n  want: %s\n", b->url, r, strna(err), b->error);
                        failed++;
                }
                assert_null(p.scheme);
                assert_null(p.host);
        }
        assert_int_equal(failed, 0);
}

static void test_limits(void **state) {
        _cleanup_free_ char *url = malloc(URL_MAX + 2), *err = NULL;
        char host[260];
        const char *why = NULL;
        (void) state;

        assert_non_null(url);
        /* URL_MAX bytes pass, one more does not */
        memset(url, 'a', URL_MAX + 1);
        memcpy(url, "https://c.example/", 18);
        url[URL_MAX] = '\0';
        assert_int_equal(url_parse(url, NULL, &why), 0);
        url[URL_MAX] = 'a';
        url[URL_MAX + 1] = '\0';
        assert_int_equal(url_parse(url, NULL, &why), -EINVAL);
        assert_string_equal(why, "longer than 4096 bytes");

        /* a host of 253 bytes (labels of 63), not 254 */
        memset(host, 'a', sizeof(host));
        for (size_t i = 63; i < 253; i += 64)
                host[i] = '.';
        snprintf(url, URL_MAX, "https://%.*s/", 253, host);
        assert_int_equal(url_check_collector(url, NULL, &err), 0);
        snprintf(url, URL_MAX, "https://%.*s/", 254, host);
        assert_int_equal(url_check_collector(url, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "(the host is longer than 253 bytes)"));
        err = mfree(err);

        /* a scheme of 40 bytes is read as one (and refused as not https), 41 not */
        assert_int_equal(url_check_collector("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa://c.example/", NULL, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "must be an https:// URL"));
        err = mfree(err);
        assert_int_equal(url_check_collector("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa://c.example/", NULL, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "(no scheme such as https://)"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
