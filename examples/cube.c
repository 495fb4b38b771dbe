/*
 * cube.c -- the cube table of the classic Sleigh, in C: eachElem(cube, 0..99).
 *
 *     build/examples/cube [workers]
 *
 * Starts a sleigh of local nws-worker processes (one per core by default)
 * on the server $NWS_HOST:$NWS_PORT, runs the task function cube from
 * build/modules/cube.so over 0..99, and prints a few results: results
 * come back in element order, so r[2..4] is 8, 27, 64.  The module is
 * $NWS_MODULES_DIR/cube.so, else ../modules/cube.so next to this program.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nws_sleigh.h>

/* The path of module name.so: $NWS_MODULES_DIR, else ../modules from our binary. */
static void
cube_module(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("NWS_MODULES_DIR");
    char        exe[PATH_MAX], *slash;
    ssize_t     n;

    if (dir != NULL && *dir != '\0') {
        snprintf(buf, len, "%s/%s.so", dir, name);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
        *slash = '\0';
    snprintf(buf, len, "%s/../modules/%s.so", n > 0 ? exe : ".", name);
}

int
main(int argc, char **argv)
{
    nws_sleigh_options opt;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *xs, *args, *r;
    char               module[PATH_MAX + 32];
    int                i, rc = 1;

    nws_sleigh_options_init(&opt);
    if (argc > 1)
        opt.workers = atoi(argv[1]);
    if ((s = nws_sleigh_new(&opt, &err)) == NULL) {
        fprintf(stderr, "cube: %s\n", err.text);
        return 1;
    }
    cube_module("cube", module, sizeof(module));
    task = nws_sleigh_call(module, "cube");
    xs = json_array();
    for (i = 0; i < 100; i++)
        json_array_append_new(xs, json_integer(i));
    args = json_pack("[o]", xs); /* one argument vector: x = 0..99 */

    if ((r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err)) == NULL) {
        fprintf(stderr, "cube: %s\n", err.text);
    } else {
        for (i = 0; i < 100; i += 10)
            printf("%2d^3 = %6lld   %2d^3 = %6lld\n", i,
                   (long long)json_integer_value(json_array_get(r, i)), i + 5,
                   (long long)json_integer_value(json_array_get(r, i + 5)));
        printf("r[2..4] = %lld, %lld, %lld\n",
               (long long)json_integer_value(json_array_get(r, 2)),
               (long long)json_integer_value(json_array_get(r, 3)),
               (long long)json_integer_value(json_array_get(r, 4)));
        rc = 0;
        for (i = 0; i < 100; i++)
            if (json_integer_value(json_array_get(r, i)) != (json_int_t)i * i * i)
                rc = 1;
        json_decref(r);
    }
    json_decref(args);
    json_decref(task);
    if (nws_sleigh_stop(s, &err) != 0)
        fprintf(stderr, "cube: stop: %s\n", err.text);
    nws_sleigh_free(s);
    return rc;
}
