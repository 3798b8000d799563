/* SPDX-License-Identifier: MIT */
#pragma once

/* The notice = { ... } section of mamori.conf (docs/notices.md). */

#include "config.h"

int notice_config_parse(ConfigContext *c, const config_setting_t *group);
