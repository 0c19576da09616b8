/* The streaming JSON writer: its output parses back (with jansson) to what was written,
 * escapes included, and nesting gets its commas right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jsonw.h"

static json_t *write_and_parse(void (*fn)(fu_jsonw_t *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    fu_jsonw_t *w = malloc(sizeof(*w));
    fu_jsonw_init(w, mem);
    fn(w);
    fu_jsonw_flush(w);
    fclose(mem);
    free(w);
    json_error_t err;
    json_t *j = json_loadb(buf, len, 0, &err);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", err.text, buf);
    free(buf);
    return j;
}

static const char tricky[] = "quote\" back\\slash \n\t\r \x01\x1f caf\xc3\xa9 /";

static void doc(fu_jsonw_t *w)
{
    fu_jsonw_begin(w, '{');
    fu_jsonw_key(w, "s");
    fu_jsonw_str(w, tricky);
    fu_jsonw_key(w, "n");
    fu_jsonw_str(w, NULL);
    fu_jsonw_key(w, "i");
    fu_jsonw_int(w, -42);
    fu_jsonw_key(w, "list");
    fu_jsonw_begin(w, '[');
    fu_jsonw_bool(w, true);
    fu_jsonw_begin(w, '{');
    fu_jsonw_end(w, '}');
    fu_jsonw_begin(w, '[');
    fu_jsonw_end(w, ']');
    fu_jsonw_bool(w, false);
    fu_jsonw_end(w, ']');
    fu_jsonw_end(w, '}');
}

static void test_roundtrip(void **state)
{
    (void)state;
    json_t *j = write_and_parse(doc);
    assert_string_equal(json_string_value(json_object_get(j, "s")), tricky);
    assert_true(json_is_null(json_object_get(j, "n")));
    assert_int_equal(json_integer_value(json_object_get(j, "i")), -42);
    json_t *list = json_object_get(j, "list");
    assert_int_equal(json_array_size(list), 4);
    assert_true(json_is_true(json_array_get(list, 0)));
    assert_true(json_is_object(json_array_get(list, 1)));
    assert_true(json_is_false(json_array_get(list, 3)));
    json_decref(j);
}

/* Many values cross the 64 KiB buffer boundary without losing bytes. */
static void big(fu_jsonw_t *w)
{
    fu_jsonw_begin(w, '[');
    for (int i = 0; i < 20000; i++)
        fu_jsonw_str(w, "0123456789abcdef\"\\");
    fu_jsonw_end(w, ']');
}

static void test_large(void **state)
{
    (void)state;
    json_t *j = write_and_parse(big);
    assert_int_equal(json_array_size(j), 20000);
    assert_string_equal(json_string_value(json_array_get(j, 19999)), "0123456789abcdef\"\\");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
