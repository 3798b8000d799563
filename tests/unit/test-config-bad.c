/* SPDX-License-Identifier: MIT */
/* Every configuration error case as data: each tests/data/config/bad/NAME.conf
 * starts with "# expect: NAME.conf:LINE: WORDS" and must be refused with an
 * error at that file and line whose message contains WORDS. A file whose
 * name starts with "allow-" is read as an allow.d file (next to an empty
 * mamori.conf), any other as mamori.conf. Each file is a cmocka test of its
 * own name. The same files seed fuzz-config. */
#include "unit.h"
#include <dirent.h>

#include "config.h"

#define BAD_DIR TEST_DATA_DIR "/config/bad"
#define EXPECT "# expect: "

static char *read_all(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        /* NUL-terminated past its length, as the loader reads a file */
        buf = malloc((size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        buf[n] = 0;
        fclose(f);
        *ret_len = (size_t) n;
        return buf;
}

/* "NAME.conf:LINE: WORDS" from the first line, or a failed test. */
static void parse_expect(const char *name, const char *text, char **ret_file, int *ret_line, char **ret_words) {
        const char *p = text, *colon, *eol;
        char *end;
        long line;

        if (strncmp(p, EXPECT, strlen(EXPECT)) != 0) {
                fprintf(stderr, "%s: the first line must be '" EXPECT "FILE:LINE: WORDS'\n", name);
                fail();
        }
        p += strlen(EXPECT);
        eol = strchrnul(p, '\n');
        colon = memchr(p, ':', (size_t) (eol - p));
        assert_non_null(colon);
        line = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || line <= 0 || strncmp(end, ": ", 2) != 0 || end + 2 >= eol) {
                fprintf(stderr, "%s: cannot read the expectation '%.*s'\n", name, (int) (eol - text), text);
                fail();
        }
        *ret_file = strndup(p, (size_t) (colon - p));
        *ret_words = strndup(end + 2, (size_t) (eol - end - 2));
        assert_non_null(*ret_file);
        assert_non_null(*ret_words);
        *ret_line = (int) line;
}

static bool check_case(const char *name) {
        _cleanup_free_ char *path = NULL, *text = NULL, *file = NULL, *words = NULL;
        char *paths[2], *texts[2], empty[1] = "";
        size_t lens[2], len = 0, n;
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        bool found = false;
        int line = 0, r;

        assert_true(asprintf(&path, "%s/%s", BAD_DIR, name) > 0);
        text = read_all(path, &len);
        parse_expect(name, text, &file, &line, &words);
        if (!streq(file, name)) {
                fprintf(stderr, "%s: the expectation names '%s', not this file\n", name, file);
                return false;
        }
        if (startswith(name, "allow-")) {
                paths[0] = (char *) "mamori.conf", texts[0] = empty, lens[0] = 0;
                paths[1] = (char *) name, texts[1] = text, lens[1] = len;
                n = 2;
        } else {
                paths[0] = (char *) name, texts[0] = text, lens[0] = len;
                n = 1;
        }
        r = config_load_texts(paths, texts, lens, n, &p, &e);
        if (r >= 0 || p) {
                fprintf(stderr, "%s: accepted, wanted %s:%d: ...%s...\n", name, file, line, words);
                policy_unref(p);
                config_errors_done(&e);
                return false;
        }
        for (size_t k = 0; k < e.n; k++)
                if (streq(e.items[k].file, file) && e.items[k].line == line && strstr(e.items[k].message, words))
                        found = true;
        if (!found) {
                fprintf(stderr, "%s: wanted %s:%d: ...%s...; got:\n", name, file, line, words);
                config_errors_print(&e, stderr);
        }
        config_errors_done(&e);
        return found;
}

static int conf_filter(const struct dirent *de) {
        return de->d_name[0] != '.' && endswith(de->d_name, ".conf");
}

/* One cmocka test per file, named after it: state is the file's name. */
static void test_bad_file(void **state) {
        if (!check_case(*state))
                fail();
}

int main(void) {
        _cleanup_free_ struct CMUnitTest *tests = NULL;
        struct dirent **names = NULL;
        int n = scandir(BAD_DIR, &names, conf_filter, alphasort), r;

        /* an empty or missing folder must not pass as "every case held" */
        if (n <= 0) {
                fprintf(stderr, "%s: %s\n", BAD_DIR, n < 0 ? strerror(errno) : "no NAME.conf in it");
                return EXIT_FAILURE;
        }
        tests = calloc((size_t) n, sizeof *tests);
        if (!tests)
                return EXIT_FAILURE;
        for (int i = 0; i < n; i++)
                tests[i] = (struct CMUnitTest){
                        .name = names[i]->d_name,
                        .test_func = test_bad_file,
                        .initial_state = names[i]->d_name,
                };
        r = _cmocka_run_group_tests("test-config-bad", tests, (size_t) n, NULL, NULL);
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}
