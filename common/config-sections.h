/* SPDX-License-Identifier: MIT */
#pragma once

/* The sections of mamori.conf, one file each (common/config-NAME.c), and the
 * allow.d files. config.c's table calls each for the member of that name.
 * Every problem is reported; each returns 0, -EINVAL (reported), or -ENOMEM,
 * which stops the load. */

#include "config-parse.h"

int config_usb_parse(ConfigContext *c, const config_setting_t *usb);             /* config-usb.c */
int config_devices_parse(ConfigContext *c, const config_setting_t *devices);     /* config-devices.c */
int config_notice_parse(ConfigContext *c, const config_setting_t *notice);       /* config-notice.c */
int config_lock_parse(ConfigContext *c, const config_setting_t *lock);           /* config-lock.c */
int config_antivirus_parse(ConfigContext *c, const config_setting_t *av);        /* config-antivirus.c */
int config_collector_parse(ConfigContext *c, const config_setting_t *collector); /* config-reporting.c */
int config_spool_parse(ConfigContext *c, const config_setting_t *spool);         /* config-reporting.c */
int config_site_parse(ConfigContext *c, const config_setting_t *site);           /* config-site.c */
int config_quarantine_parse(ConfigContext *c, const config_setting_t *q);        /* config-quarantine.c */

/* An allow.d file: allow = ( { ... }, ... ); (config-allow.c). */
int config_allow_parse_file(ConfigContext *c, const config_t *cfg);
