/*
 * scheduling.constraints (docs/DESIGN.md "VM request"): the JSON form of
 * the label expressions of model.h's struct fs_constraints, shared by the
 * controller's request parser (controller/request.c, strict, reasons for
 * users) and the round record agents read (common/model.c).  Matching is
 * fs_constraints_match() (model.h), which fs_score() calls.
 *
 * Pure: no I/O, no logging.
 */
#ifndef FLINTSCHED_CONSTRAINT_H
#define FLINTSCHED_CONSTRAINT_H

#include <stddef.h>

#include <jansson.h>

#include "common/model.h"

/*
 * [{"key": K, "op": "In", "values": ["a"]}, ...] (borrowed) into *out
 * (zeroed by the caller; fs_constraints_clear() frees it, also after a
 * failure).  Unknown members, a key or value outside [A-Za-z0-9._/-]
 * (1..63 bytes), more than FS_CONSTRAINTS_MAX of either, values with
 * Exists/DoesNotExist, none with In/NotIn, anything but one integer with
 * Gt/Lt: -EINVAL and a sentence in reason naming path[i].member.
 * -ENOMEM on allocation failure.
 */
int fs_constraints_parse(const json_t *arr, const char *path,
			 struct fs_constraints *out, char *reason, size_t len);
/* [A-Za-z0-9._/-]{1,63}: a label key or value a constraint may name
 * (nothing in it needs escaping in a reason). */
bool fs_label_word(const char *s);
/* The array (a new reference), or NULL on allocation failure. */
json_t *fs_constraints_json(const struct fs_constraints *cs);

#endif
