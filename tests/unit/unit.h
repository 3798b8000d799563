/* SPDX-License-Identifier: MIT */
#pragma once
/* What every cmocka unit test includes, in the order cmocka needs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
