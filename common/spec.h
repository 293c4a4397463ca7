/*
 * The Flintlock MicroVMSpec a request carries (P/requests/<id> minus its
 * `scheduling`), checked the way a real flintlockd checks it, so that a
 * spec flintlockd would refuse is rejected before it reaches a host.
 *
 * The rules are flintlockd's own (liquidmetal-dev/flintlock: the proto
 * api/types/microvm.proto, infrastructure/grpc/convert.go and sanitize.go,
 * the validate tags in core/models/, pkg/validation/validate.go, and the
 * provider capabilities checked in core/application/commands.go), with the
 * few deliberate differences listed in docs/DESIGN.md ("VM request").
 * Field names are taken in both of protojson's spellings, lowerCamelCase
 * and the proto name (memoryInMb or memory_in_mb); unknown fields are
 * ignored as flintlockd ignores them, except a near miss of a known one
 * (memoryInMB), which flintlockd would silently drop.
 *
 * Pure: no I/O, no allocation, no logging.
 */
#ifndef FLINTSCHED_SPEC_H
#define FLINTSCHED_SPEC_H

#include <stddef.h>

#include <jansson.h>

#include "common/model.h"

/* What flintlockd gives a spec without vcpu / memoryInMb (convert.go). */
#define FS_SPEC_VCPU_DEFAULT 2
#define FS_SPEC_MEMORY_DEFAULT 1024
#define FS_SPEC_VCPU_MAX 64	 /* core/models/microvm.go lte=64 */
#define FS_SPEC_MEMORY_MIN 1024	 /* gte=1024 */
#define FS_SPEC_MEMORY_MAX 32768 /* lte=32768 */

/* The members a real flintlockd needs besides vcpu and memoryInMb (a
 * kernel, a root volume, a TAP interface), for demos, benchmarks and
 * tests: "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}".  e2e/lib.sh
 * and demo/demo.sh spell the same. */
#define FS_SPEC_EXAMPLE                                                        \
	"\"kernel\":{\"image\":\"ghcr.io/example/kernel:6.1\","                \
	"\"filename\":\"boot/vmlinux\"},\"rootVolume\":{\"id\":\"root\","      \
	"\"source\":{\"containerSource\":\"ghcr.io/example/ubuntu:22.04\"}},"  \
	"\"interfaces\":[{\"deviceId\":\"eth1\",\"type\":\"TAP\"}]"

/*
 * Checks the spec (borrowed, a JSON object) of request `id` (the key's
 * last segment, already a valid name).  Returns 0 and writes *ret_res
 * (vcpu and memory_mb as flintlockd will create the VM, vms = 1), or
 * -EINVAL and a sentence in reason[0..len) naming the field:
 *   interfaces[0].type: must be "TAP" (firecracker supports no macvtap),
 *   got "MACVTAP"
 * Strings from the spec are echoed bounded and escaped (fs_quote).
 */
int fs_spec_check(const json_t *spec, const char *id, struct fs_res *ret_res,
		  char *reason, size_t len);

/* "an integer", "a string", ... for messages. */
const char *fs_json_kind(const json_t *v);

/* vcpu and memory_mb of a spec that fs_spec_check() accepted (either
 * spelling, flintlockd's defaults when absent); vms = 1. */
void fs_spec_res(const json_t *spec, struct fs_res *ret_res);

#endif
