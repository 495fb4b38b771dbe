/*
 * cube.c -- the task module of examples/cube.c: cube(x) = x * x * x.
 *
 * Built into build/modules/cube.so.  A task function takes the element's
 * arguments as a JSON array (borrowed) and returns a new JSON value, or
 * NULL after nws_task_error() (see nws_task.h).
 */
#include <nws_task.h>

NWS_TASK_FN(cube)
{
    json_t    *x = json_array_get(args, 0);
    json_int_t v;

    if (!json_is_integer(x))
        return nws_task_error(ctx, "cube: want an integer, got %s",
                              json_is_null(x) ? "nothing" : "something else");
    v = json_integer_value(x);
    return json_integer(v * v * v);
}
