/*
 * libfuzzer_main.c -- libFuzzer's entry point for one harness.
 *
 * Compiled once per harness with -DNWSFUZZ_TARGET=nwsfuzz_<name> (make
 * fuzz); the Check binary leaves this file out and calls the harnesses
 * directly (tests/check_fuzz.c).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return NWSFUZZ_TARGET(data, size);
}
