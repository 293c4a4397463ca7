/* Flintlock's protobuf messages from and to JSON; see flintlock_pb.h. */
#include "agent/flintlock_pb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/microvm/v1alpha1/microvms.pb-c.h"
#include "types/microvm.pb-c.h"

typedef Flintlock__Types__MicroVMSpec Spec;
typedef Flintlock__Types__Volume Volume;
typedef Flintlock__Types__NetworkInterface Iface;

static int fail(struct flpb_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct flpb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

#define NOMEM(err) fail(err, -ENOMEM, "out of memory")

const char *flpb_state_name(int state)
{
	switch (state) {
	case FLPB_STATE_PENDING:
		return "PENDING";
	case FLPB_STATE_CREATED:
		return "CREATED";
	case FLPB_STATE_FAILED:
		return "FAILED";
	case FLPB_STATE_DELETING:
		return "DELETING";
	default:
		return "UNKNOWN";
	}
}

/* ---- JSON in ---- */

/* A JSON path as the error messages spell it: "interfaces[1].type". */
struct path {
	char s[160];
};

static struct path sub(const struct path *p, const char *name)
{
	struct path q;

	snprintf(q.s, sizeof(q.s), "%s%s%s", p->s, p->s[0] ? "." : "", name);
	return q;
}

static struct path idx(const struct path *p, size_t i)
{
	struct path q;

	snprintf(q.s, sizeof(q.s), "%s[%zu]", p->s, i);
	return q;
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* The field under its camelCase or proto name; *ret NULL when absent or
 * null.  *at names the spelling used. */
static int field(const json_t *obj, const struct path *p, const char *camel,
		 const char *snake, json_t **ret, struct path *at,
		 struct flpb_error *err)
{
	json_t *a = json_object_get(obj, camel);
	json_t *b = strcmp(camel, snake) ? json_object_get(obj, snake) : NULL;

	*ret = NULL;
	if (a != NULL && b != NULL)
		return fail(err, -EINVAL, "%s: given twice, as %s and %s",
			    sub(p, camel).s, camel, snake);
	*at = sub(p, a != NULL ? camel : snake);
	*ret = a != NULL ? a : b;
	if (*ret != NULL && json_is_null(*ret))
		*ret = NULL;
	return 0;
}

static int want(const json_t *v, json_type t, const struct path *at,
		const char *what, struct flpb_error *err)
{
	if (json_typeof(v) != t)
		return fail(err, -EINVAL, "%s: must be %s, got %s", at->s,
			    what, jtype(v));
	return 0;
}

static int str_dup(const json_t *v, const struct path *at, char **dst,
		   struct flpb_error *err)
{
	int rc = want(v, JSON_STRING, at, "a string", err);
	char *s;

	if (rc < 0)
		return rc;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, -EINVAL, "%s: contains a NUL byte", at->s);
	s = strdup(json_string_value(v));
	if (s == NULL)
		return NOMEM(err);
	*dst = s;
	return 0;
}

/* A string field; *dst untouched when absent, *present set if given. */
static int get_str(const json_t *obj, const struct path *p, const char *camel,
		   const char *snake, char **dst, bool *present,
		   struct flpb_error *err)
{
	json_t *v = NULL;
	struct path at;
	int rc = field(obj, p, camel, snake, &v, &at, err);

	if (rc < 0 || v == NULL)
		return rc;
	if ((rc = str_dup(v, &at, dst, err)) < 0)
		return rc;
	if (present != NULL)
		*present = true;
	return 0;
}

static int get_int32(const json_t *obj, const struct path *p,
		     const char *camel, const char *snake, int32_t *dst,
		     bool *present, struct flpb_error *err)
{
	json_t *v = NULL;
	struct path at;
	int rc = field(obj, p, camel, snake, &v, &at, err);
	json_int_t n;

	if (rc < 0 || v == NULL)
		return rc;
	if ((rc = want(v, JSON_INTEGER, &at, "an integer", err)) < 0)
		return rc;
	n = json_integer_value(v);
	if (n < INT32_MIN || n > INT32_MAX)
		return fail(err, -EINVAL, "%s: must fit in 32 bits, got %lld",
			    at.s, (long long)n);
	*dst = (int32_t)n;
	if (present != NULL)
		*present = true;
	return 0;
}

static int get_bool(const json_t *obj, const struct path *p,
		    const char *camel, const char *snake,
		    protobuf_c_boolean *dst, struct flpb_error *err)
{
	json_t *v = NULL;
	struct path at;
	int rc = field(obj, p, camel, snake, &v, &at, err);

	if (rc < 0 || v == NULL)
		return rc;
	if (!json_is_boolean(v))
		return fail(err, -EINVAL, "%s: must be true or false, got %s",
			    at.s, jtype(v));
	*dst = json_is_true(v);
	return 0;
}

/* An object field (a sub-message); *ret NULL when absent. */
static int get_obj(const json_t *obj, const struct path *p, const char *camel,
		   const char *snake, json_t **ret, struct path *at,
		   struct flpb_error *err)
{
	int rc = field(obj, p, camel, snake, ret, at, err);

	if (rc < 0 || *ret == NULL)
		return rc;
	return want(*ret, JSON_OBJECT, at, "an object", err);
}

static void *msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m != NULL)
		protobuf_c_message_init(d, m);
	return m;
}

/* A repeated field's array of n pointers, zeroed (freeable as is). */
static int array_new(size_t n, void ***dst, struct flpb_error *err)
{
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof(void *));
	return *dst == NULL ? NOMEM(err) : 0;
}

/* map<string, string>: the entry type d has key = 1 and value = 2. */
static int get_map(const json_t *obj, const struct path *p, const char *camel,
		   const char *snake, const ProtobufCMessageDescriptor *d,
		   size_t *n_dst, void ***dst, struct flpb_error *err)
{
	json_t *v, *val;
	struct path at;
	const char *key;
	size_t i = 0;
	int rc = get_obj(obj, p, camel, snake, &v, &at, err);

	void **arr;

	if (rc < 0 || v == NULL || json_object_size(v) == 0)
		return rc;
	if ((arr = calloc(json_object_size(v), sizeof(void *))) == NULL)
		return NOMEM(err);
	*dst = arr;
	json_object_foreach(v, key, val) {
		struct path kat = sub(&at, key);
		ProtobufCMessage *e = msg_new(d);
		char **k, **s;

		if (e == NULL)
			return NOMEM(err);
		arr[i++] = e;
		*n_dst = i;
		k = (char **)((char *)e + d->fields[0].offset);
		s = (char **)((char *)e + d->fields[1].offset);
		if ((*k = strdup(key)) == NULL)
			return NOMEM(err);
		if (json_is_null(val))
			continue;
		if ((rc = str_dup(val, &kat, s, err)) < 0)
			return rc;
	}
	return 0;
}

static int conv_volume(const json_t *o, const struct path *p, Volume **ret,
		       struct flpb_error *err)
{
	Volume *v = msg_new(&flintlock__types__volume__descriptor);
	json_t *src;
	struct path at;
	bool has = false;
	int rc;

	if (v == NULL)
		return NOMEM(err);
	*ret = v;
	if ((rc = want(o, JSON_OBJECT, p, "an object", err)) < 0 ||
	    (rc = get_str(o, p, "id", "id", &v->id, NULL, err)) < 0 ||
	    (rc = get_bool(o, p, "isReadOnly", "is_read_only",
			   &v->is_read_only, err)) < 0)
		return rc;
	if ((rc = get_str(o, p, "mountPoint", "mount_point", &v->mount_point,
			  &has, err)) < 0)
		return rc;
	if (has)
		v->_mount_point_case =
			FLINTLOCK__TYPES__VOLUME___MOUNT_POINT_MOUNT_POINT;
	has = false;
	if ((rc = get_str(o, p, "partitionId", "partition_id",
			  &v->partition_id, &has, err)) < 0)
		return rc;
	if (has)
		v->_partition_id_case =
			FLINTLOCK__TYPES__VOLUME___PARTITION_ID_PARTITION_ID;
	has = false;
	if ((rc = get_int32(o, p, "sizeInMb", "size_in_mb", &v->size_in_mb,
			    &has, err)) < 0)
		return rc;
	if (has)
		v->_size_in_mb_case =
			FLINTLOCK__TYPES__VOLUME___SIZE_IN_MB_SIZE_IN_MB;
	if ((rc = get_obj(o, p, "source", "source", &src, &at, err)) < 0 ||
	    src == NULL)
		return rc;
	Flintlock__Types__VolumeSource *s =
		msg_new(&flintlock__types__volume_source__descriptor);
	if (s == NULL)
		return NOMEM(err);
	v->source = s;
	has = false;
	if ((rc = get_str(src, &at, "containerSource", "container_source",
			  &s->container_source, &has, err)) < 0)
		return rc;
	if (has)
		s->_container_source_case =
			FLINTLOCK__TYPES__VOLUME_SOURCE___CONTAINER_SOURCE_CONTAINER_SOURCE;
	has = false;
	if ((rc = get_str(src, &at, "virtiofsSource", "virtiofs_source",
			  &s->virtiofs_source, &has, err)) < 0)
		return rc;
	if (has)
		s->_virtiofs_source_case =
			FLINTLOCK__TYPES__VOLUME_SOURCE___VIRTIOFS_SOURCE_VIRTIOFS_SOURCE;
	return 0;
}

static int conv_iface_type(const json_t *o, const struct path *p, Iface *n,
			   struct flpb_error *err)
{
	json_t *v = NULL;
	struct path at;
	int rc = field(o, p, "type", "type", &v, &at, err);

	if (rc < 0 || v == NULL)
		return rc;
	if (json_is_string(v) && !strcmp(json_string_value(v), "TAP"))
		n->type = FLINTLOCK__TYPES__NETWORK_INTERFACE__IFACE_TYPE__TAP;
	else if (json_is_string(v) && !strcmp(json_string_value(v), "MACVTAP"))
		n->type = FLINTLOCK__TYPES__NETWORK_INTERFACE__IFACE_TYPE__MACVTAP;
	else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		 json_integer_value(v) <= 1)
		n->type = (Flintlock__Types__NetworkInterface__IfaceType)
			json_integer_value(v);
	else if (json_is_string(v))
		return fail(err, -EINVAL,
			    "%s: must be \"TAP\" or \"MACVTAP\", got \"%s\"",
			    at.s, json_string_value(v));
	else
		return fail(err, -EINVAL,
			    "%s: must be \"TAP\" or \"MACVTAP\", got %s", at.s,
			    jtype(v));
	return 0;
}

static int conv_address(const json_t *a, const struct path *at, Iface *n,
			struct flpb_error *err)
{
	Flintlock__Types__StaticAddress *s =
		msg_new(&flintlock__types__static_address__descriptor);
	json_t *ns;
	struct path nat;
	bool has = false;
	int rc;

	if (s == NULL)
		return NOMEM(err);
	n->address = s;
	n->_address_case =
		FLINTLOCK__TYPES__NETWORK_INTERFACE___ADDRESS_ADDRESS;
	if ((rc = get_str(a, at, "address", "address", &s->address, NULL,
			  err)) < 0 ||
	    (rc = get_str(a, at, "gateway", "gateway", &s->gateway, &has,
			  err)) < 0)
		return rc;
	if (has)
		s->_gateway_case =
			FLINTLOCK__TYPES__STATIC_ADDRESS___GATEWAY_GATEWAY;
	if ((rc = field(a, at, "nameservers", "nameservers", &ns, &nat,
			err)) < 0 ||
	    ns == NULL)
		return rc;
	if ((rc = want(ns, JSON_ARRAY, &nat, "an array", err)) < 0 ||
	    (rc = array_new(json_array_size(ns), (void ***)&s->nameservers,
			    err)) < 0)
		return rc;
	for (size_t i = 0; i < json_array_size(ns); i++) {
		struct path iat = idx(&nat, i);

		if ((rc = str_dup(json_array_get(ns, i), &iat,
				  &s->nameservers[i], err)) < 0)
			return rc;
		s->n_nameservers = i + 1;
	}
	return 0;
}

static int conv_iface(const json_t *o, const struct path *p, Iface **ret,
		      struct flpb_error *err)
{
	Iface *n = msg_new(&flintlock__types__network_interface__descriptor);
	json_t *a, *ov;
	struct path at;
	bool has = false;
	int rc;

	if (n == NULL)
		return NOMEM(err);
	*ret = n;
	if ((rc = want(o, JSON_OBJECT, p, "an object", err)) < 0 ||
	    (rc = get_str(o, p, "deviceId", "device_id", &n->device_id, NULL,
			  err)) < 0 ||
	    (rc = conv_iface_type(o, p, n, err)) < 0 ||
	    (rc = get_str(o, p, "guestMac", "guest_mac", &n->guest_mac, &has,
			  err)) < 0)
		return rc;
	if (has)
		n->_guest_mac_case =
			FLINTLOCK__TYPES__NETWORK_INTERFACE___GUEST_MAC_GUEST_MAC;
	if ((rc = get_obj(o, p, "address", "address", &a, &at, err)) < 0 ||
	    (a != NULL && (rc = conv_address(a, &at, n, err)) < 0))
		return rc;
	if ((rc = get_obj(o, p, "overrides", "overrides", &ov, &at, err)) < 0 ||
	    ov == NULL)
		return rc;
	Flintlock__Types__NetworkOverrides *no =
		msg_new(&flintlock__types__network_overrides__descriptor);
	if (no == NULL)
		return NOMEM(err);
	n->overrides = no;
	n->_overrides_case =
		FLINTLOCK__TYPES__NETWORK_INTERFACE___OVERRIDES_OVERRIDES;
	has = false;
	if ((rc = get_str(ov, &at, "bridgeName", "bridge_name",
			  &no->bridge_name, &has, err)) < 0)
		return rc;
	if (has)
		no->_bridge_name_case =
			FLINTLOCK__TYPES__NETWORK_OVERRIDES___BRIDGE_NAME_BRIDGE_NAME;
	return 0;
}

static int conv_kernel(const json_t *k, const struct path *at, Spec *s,
		       struct flpb_error *err)
{
	Flintlock__Types__Kernel *kn =
		msg_new(&flintlock__types__kernel__descriptor);
	bool has = false;
	int rc;

	if (kn == NULL)
		return NOMEM(err);
	s->kernel = kn;
	if ((rc = get_str(k, at, "image", "image", &kn->image, NULL, err)) <
		    0 ||
	    (rc = get_map(k, at, "cmdline", "cmdline",
			  &flintlock__types__kernel__cmdline_entry__descriptor,
			  &kn->n_cmdline, (void ***)&kn->cmdline, err)) < 0 ||
	    (rc = get_bool(k, at, "addNetworkConfig", "add_network_config",
			   &kn->add_network_config, err)) < 0 ||
	    (rc = get_str(k, at, "filename", "filename", &kn->filename, &has,
			  err)) < 0)
		return rc;
	if (has)
		kn->_filename_case =
			FLINTLOCK__TYPES__KERNEL___FILENAME_FILENAME;
	return 0;
}

static int conv_initrd(const json_t *i, const struct path *at, Spec *s,
		       struct flpb_error *err)
{
	Flintlock__Types__Initrd *in =
		msg_new(&flintlock__types__initrd__descriptor);
	bool has = false;
	int rc;

	if (in == NULL)
		return NOMEM(err);
	s->initrd = in;
	s->_initrd_case = FLINTLOCK__TYPES__MICRO_VMSPEC___INITRD_INITRD;
	if ((rc = get_str(i, at, "image", "image", &in->image, NULL, err)) <
		    0 ||
	    (rc = get_str(i, at, "filename", "filename", &in->filename, &has,
			  err)) < 0)
		return rc;
	if (has)
		in->_filename_case =
			FLINTLOCK__TYPES__INITRD___FILENAME_FILENAME;
	return 0;
}

static int conv_spec(const json_t *j, Spec *s, struct flpb_error *err)
{
	const struct path root = {""};
	json_t *v = NULL;
	struct path at;
	bool has = false;
	int rc;

	if ((rc = get_int32(j, &root, "vcpu", "vcpu", &s->vcpu, NULL, err)) <
		    0 ||
	    (rc = get_int32(j, &root, "memoryInMb", "memory_in_mb",
			    &s->memory_in_mb, NULL, err)) < 0 ||
	    (rc = get_map(j, &root, "labels", "labels",
			  &flintlock__types__micro_vmspec__labels_entry__descriptor,
			  &s->n_labels, (void ***)&s->labels, err)) < 0 ||
	    (rc = get_map(j, &root, "metadata", "metadata",
			  &flintlock__types__micro_vmspec__metadata_entry__descriptor,
			  &s->n_metadata, (void ***)&s->metadata, err)) < 0 ||
	    (rc = get_bool(j, &root, "allowGuestAgent", "allow_guest_agent",
			   &s->allow_guest_agent, err)) < 0 ||
	    (rc = get_str(j, &root, "provider", "provider", &s->provider, &has,
			  err)) < 0)
		return rc;
	if (has)
		s->_provider_case =
			FLINTLOCK__TYPES__MICRO_VMSPEC___PROVIDER_PROVIDER;
	if ((rc = get_obj(j, &root, "kernel", "kernel", &v, &at, err)) < 0 ||
	    (v != NULL && (rc = conv_kernel(v, &at, s, err)) < 0))
		return rc;
	if ((rc = get_obj(j, &root, "initrd", "initrd", &v, &at, err)) < 0 ||
	    (v != NULL && (rc = conv_initrd(v, &at, s, err)) < 0))
		return rc;
	if ((rc = get_obj(j, &root, "rootVolume", "root_volume", &v, &at,
			  err)) < 0 ||
	    (v != NULL && (rc = conv_volume(v, &at, &s->root_volume, err)) < 0))
		return rc;
	if ((rc = field(j, &root, "additionalVolumes", "additional_volumes",
			&v, &at, err)) < 0)
		return rc;
	if (v != NULL) {
		if ((rc = want(v, JSON_ARRAY, &at, "an array", err)) < 0 ||
		    (rc = array_new(json_array_size(v),
				    (void ***)&s->additional_volumes, err)) < 0)
			return rc;
		for (size_t i = 0; i < json_array_size(v); i++) {
			struct path iat = idx(&at, i);

			rc = conv_volume(json_array_get(v, i), &iat,
					 &s->additional_volumes[i], err);
			if (s->additional_volumes[i] != NULL)
				s->n_additional_volumes = i + 1;
			if (rc < 0)
				return rc;
		}
	}
	if ((rc = field(j, &root, "interfaces", "interfaces", &v, &at, err)) <
	    0)
		return rc;
	if (v != NULL) {
		if ((rc = want(v, JSON_ARRAY, &at, "an array", err)) < 0 ||
		    (rc = array_new(json_array_size(v),
				    (void ***)&s->interfaces, err)) < 0)
			return rc;
		for (size_t i = 0; i < json_array_size(v); i++) {
			struct path iat = idx(&at, i);

			rc = conv_iface(json_array_get(v, i), &iat,
					&s->interfaces[i], err);
			if (s->interfaces[i] != NULL)
				s->n_interfaces = i + 1;
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Packs m into a new buffer. */
static int pack(const ProtobufCMessage *m, uint8_t **ret_buf, size_t *ret_len,
		struct flpb_error *err)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n > 0 ? n : 1);

	if (b == NULL)
		return NOMEM(err);
	protobuf_c_message_pack(m, b);
	*ret_buf = b;
	*ret_len = n;
	return 0;
}

int flpb_create_request(const json_t *spec, const char *id, const char *ns,
			uint8_t **ret_buf, size_t *ret_len,
			struct flpb_error *err)
{
	Microvm__Services__Api__V1alpha1__CreateMicroVMRequest *req;
	Spec *s;
	int rc;

	if (id == NULL || *id == '\0')
		return fail(err, -EINVAL, "id: required");
	if (ns == NULL || *ns == '\0')
		return fail(err, -EINVAL, "namespace: required");
	if (spec == NULL || !json_is_object(spec))
		return fail(err, -EINVAL, "spec: must be an object, got %s",
			    spec ? jtype(spec) : "nothing");
	req = msg_new(&microvm__services__api__v1alpha1__create_micro_vmrequest__descriptor);
	if (req == NULL)
		return NOMEM(err);
	rc = NOMEM(err);
	if ((s = msg_new(&flintlock__types__micro_vmspec__descriptor)) == NULL)
		goto out;
	req->microvm = s;
	if ((s->id = strdup(id)) == NULL ||
	    (s->namespace_ = strdup(ns)) == NULL)
		goto out;
	if ((rc = conv_spec(spec, s, err)) < 0)
		goto out;
	rc = pack(&req->base, ret_buf, ret_len, err);
out:
	/* Everything in req is malloc'd or a default: freeable as if
	 * unpacked. */
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return rc;
}

static int uid_request(const ProtobufCMessageDescriptor *d, const char *uid,
		       uint8_t **ret_buf, size_t *ret_len,
		       struct flpb_error *err)
{
	/* Get and Delete requests are both { string uid = 1; }. */
	Microvm__Services__Api__V1alpha1__GetMicroVMRequest r =
		MICROVM__SERVICES__API__V1ALPHA1__GET_MICRO_VMREQUEST__INIT;

	if (uid == NULL || *uid == '\0')
		return fail(err, -EINVAL, "uid: required");
	r.base.descriptor = d;
	r.uid = (char *)uid;
	return pack(&r.base, ret_buf, ret_len, err);
}

int flpb_get_request(const char *uid, uint8_t **ret_buf, size_t *ret_len,
		     struct flpb_error *err)
{
	return uid_request(
		&microvm__services__api__v1alpha1__get_micro_vmrequest__descriptor,
		uid, ret_buf, ret_len, err);
}

int flpb_delete_request(const char *uid, uint8_t **ret_buf, size_t *ret_len,
			struct flpb_error *err)
{
	return uid_request(
		&microvm__services__api__v1alpha1__delete_micro_vmrequest__descriptor,
		uid, ret_buf, ret_len, err);
}

int flpb_list_request(const char *ns, const char *name, uint8_t **ret_buf,
		      size_t *ret_len, struct flpb_error *err)
{
	Microvm__Services__Api__V1alpha1__ListMicroVMsRequest r =
		MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_REQUEST__INIT;

	if (ns == NULL || *ns == '\0')
		return fail(err, -EINVAL,
			    "namespace: required (flintlockd lists every "
			    "namespace for an empty one)");
	r.namespace_ = (char *)ns;
	if (name != NULL) {
		r.name = (char *)name;
		r._name_case =
			MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_REQUEST___NAME_NAME;
	}
	return pack(&r.base, ret_buf, ret_len, err);
}

/* ---- replies ---- */

static int copy(char *dst, size_t len, const char *src, const char *what,
		struct flpb_error *err)
{
	if (src == NULL)
		src = "";
	if (strlen(src) >= len)
		return fail(err, -EINVAL, "%s: longer than %zu bytes", what,
			    len - 1);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int vm_read(const Flintlock__Types__MicroVM *m, const char *what,
		   struct flpb_vm *vm, struct flpb_error *err)
{
	char w[64];
	int rc;

	memset(vm, 0, sizeof(*vm));
	if (m == NULL)
		return fail(err, -EINVAL, "%s: no microvm", what);
	if (m->spec == NULL)
		return fail(err, -EINVAL, "%s.spec: missing", what);
	if (m->spec->_uid_case != FLINTLOCK__TYPES__MICRO_VMSPEC___UID_UID ||
	    m->spec->uid == NULL || m->spec->uid[0] == '\0')
		return fail(err, -EINVAL, "%s.spec.uid: missing", what);
	snprintf(w, sizeof(w), "%s.spec.uid", what);
	if ((rc = copy(vm->uid, sizeof(vm->uid), m->spec->uid, w, err)) < 0)
		return rc;
	snprintf(w, sizeof(w), "%s.spec.id", what);
	if ((rc = copy(vm->id, sizeof(vm->id), m->spec->id, w, err)) < 0)
		return rc;
	snprintf(w, sizeof(w), "%s.spec.namespace", what);
	if ((rc = copy(vm->namespace_, sizeof(vm->namespace_),
		       m->spec->namespace_, w, err)) < 0)
		return rc;
	vm->version = m->version;
	vm->state = FLPB_STATE_UNKNOWN;
	if (m->status != NULL) {
		int st = (int)m->status->state;

		vm->state = st >= FLPB_STATE_PENDING &&
					    st <= FLPB_STATE_DELETING
				    ? st
				    : FLPB_STATE_UNKNOWN;
		vm->retry = m->status->retry;
	}
	return 0;
}

#define BAD(err, what) \
	fail(err, -EINVAL, "%s: not a valid protobuf message", what)

int flpb_create_response(const uint8_t *buf, size_t len,
			 struct flpb_vm *ret_vm, struct flpb_error *err)
{
	Microvm__Services__Api__V1alpha1__CreateMicroVMResponse *r =
		microvm__services__api__v1alpha1__create_micro_vmresponse__unpack(
			NULL, len, buf);
	struct flpb_vm vm;
	int rc;

	if (r == NULL)
		return BAD(err, "CreateMicroVMResponse");
	rc = vm_read(r->microvm, "microvm", &vm, err);
	microvm__services__api__v1alpha1__create_micro_vmresponse__free_unpacked(
		r, NULL);
	if (rc == 0)
		*ret_vm = vm;
	return rc;
}

int flpb_get_response(const uint8_t *buf, size_t len, struct flpb_vm *ret_vm,
		      struct flpb_error *err)
{
	Microvm__Services__Api__V1alpha1__GetMicroVMResponse *r =
		microvm__services__api__v1alpha1__get_micro_vmresponse__unpack(
			NULL, len, buf);
	struct flpb_vm vm;
	int rc;

	if (r == NULL)
		return BAD(err, "GetMicroVMResponse");
	rc = vm_read(r->microvm, "microvm", &vm, err);
	microvm__services__api__v1alpha1__get_micro_vmresponse__free_unpacked(
		r, NULL);
	if (rc == 0)
		*ret_vm = vm;
	return rc;
}

int flpb_list_response(const uint8_t *buf, size_t len,
		       struct flpb_vm **ret_vms, size_t *ret_n,
		       struct flpb_error *err)
{
	Microvm__Services__Api__V1alpha1__ListMicroVMsResponse *r =
		microvm__services__api__v1alpha1__list_micro_vms_response__unpack(
			NULL, len, buf);
	struct flpb_vm *vms = NULL;
	int rc = 0;

	if (r == NULL)
		return BAD(err, "ListMicroVMsResponse");
	if (r->n_microvm > 0 &&
	    (vms = calloc(r->n_microvm, sizeof(*vms))) == NULL)
		rc = NOMEM(err);
	for (size_t i = 0; rc == 0 && vms != NULL && i < r->n_microvm; i++) {
		char w[32];

		snprintf(w, sizeof(w), "microvm[%zu]", i);
		rc = vm_read(r->microvm[i], w, &vms[i], err);
	}
	if (rc == 0) {
		*ret_vms = vms;
		*ret_n = r->n_microvm;
	} else {
		free(vms);
	}
	microvm__services__api__v1alpha1__list_micro_vms_response__free_unpacked(
		r, NULL);
	return rc;
}
