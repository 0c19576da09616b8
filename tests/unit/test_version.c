/* Version comparison on the strings vendors really write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/version.h"

static void expect(const char *a, const char *b, int want)
{
    int got = fu_version_cmp(a, b);
    got = got < 0 ? -1 : got > 0;
    if (got != want)
        fail_msg("'%s' vs '%s': want %d got %d", a, b, want, got);
    int back = fu_version_cmp(b, a);
    back = back < 0 ? -1 : back > 0;
    if (back != -want)
        fail_msg("'%s' vs '%s' is not antisymmetric", b, a);
}

static void test_compare(void **state)
{
    (void)state;
    expect("2.10", "2.9", 1);
    expect("1.40", "1.5", 1);
    expect("1.40", "1.40", 0);
    expect("2.10", "2.10.1", -1);
    expect("2.10.0-1", "2.10.0-2", -1);
    expect("2.10.0-10", "2.10.0-9", 1);
    expect("5.2.1 build 17", "5.2.1 build 9", 1);
    expect("5.2.1 build 17", "5.2.1 build 17", 0);
    expect("U46 v2.10 (03/01/2024)", "U46 v2.12 (05/02/2024)", -1);
    expect("U46 v2.10 (03/01/2024)", "U46 v2.10 (03/01/2024)", 0);
    expect("007", "7", 0);
    expect("2.0", "2.0beta", -1); /* more parts: newer, as plain runs compare */
    expect("2.1", "2.0beta", 1);
    expect("A.2", "a.2", 0);
    expect("", "1", -1);
    expect("99999999999999999999999", "1", 1); /* longer than any integer type */
}

static void test_extract(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(fu_version_extract("v([0-9]+\\.[0-9]+)", "U46 v2.10 (03/01/2024)", out, sizeof(out)), 0);
    assert_string_equal(out, "2.10");
    assert_int_equal(fu_version_extract("build ([0-9]+)", "5.2.1", out, sizeof(out)), 1);
    assert_string_equal(out, "5.2.1");
    assert_int_equal(fu_version_extract("(", "x", out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_extract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
