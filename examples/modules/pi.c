/*
 * pi.c -- the task module of examples/pi.c: throw darts at the unit
 * square and count those that land inside the quarter circle.
 *
 * darts(seed, n) -> the number of n darts with x*x + y*y <= 1.  Each task
 * has its own seed, so the estimate is the same however the elements are
 * spread over workers.
 */
#include <stdint.h>

#include <nws_task.h>

/* xorshift64*: small, fast and good enough for darts. */
static uint64_t
pi_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* A uniform double in [0, 1). */
static double
pi_unit(uint64_t *s)
{
    return (double)(pi_next(s) >> 11) / 9007199254740992.0;
}

NWS_TASK_FN(darts)
{
    json_int_t seed = json_integer_value(json_array_get(args, 0));
    json_int_t n = json_integer_value(json_array_get(args, 1)), i, in = 0;
    uint64_t   s = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
    double     x, y;

    if (n <= 0)
        return nws_task_error(ctx, "darts: want a positive number of darts");
    for (i = 0; i < n; i++) {
        x = pi_unit(&s);
        y = pi_unit(&s);
        in += x * x + y * y <= 1.0;
    }
    return json_integer(in);
}
