/* Flintlock's protobuf messages from and to JSON; see flintlock_pb.h. */
#include "agent/flintlock_pb.h"
#include "common/spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/microvm/v1alpha1/microvms.pb-c.h"
#include "types/microvm.pb-c.h"

typedef Flintlock__Types__MicroVMSpec Spec;

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

static int want(const json_t *v, json_type t, const struct path *at,
		const char *what, struct flpb_error *err)
{
	if (json_typeof(v) != t)
		return fail(err, -EINVAL, "%s: must be %s, got %s", at->s,
			    what, fs_json_kind(v));
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

static void *msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m != NULL)
		protobuf_c_message_init(d, m);
	return m;
}

/* protojson's name for a field: lowerCamelCase of the proto name. */
static void camel_name(const char *proto, char *out, size_t len)
{
	size_t o = 0;
	bool up = false;

	for (; *proto != '\0' && o + 1 < len; proto++) {
		if (*proto == '_') {
			up = true;
			continue;
		}
		out[o++] = up && *proto >= 'a' && *proto <= 'z'
				   ? (char)(*proto - 'a' + 'A')
				   : *proto;
		up = false;
	}
	out[o] = '\0';
}

/* A map<string, string> field's entry type: key = 1, value = 2. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	n = strlen(d->name);
	return n > 5 && !strcmp(d->name + n - 5, "Entry") &&
	       d->n_fields == 2 && !strcmp(d->fields[0].name, "key");
}

#define AT(m, f, type) ((type *)(void *)((char *)(m) + (f)->offset))

static int conv_msg(const json_t *o, const struct path *p,
		    const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret,
		    struct flpb_error *err);

/* One value v of field f (not repeated) into *dst. */
static int conv_value(const json_t *v, const struct path *at,
		      const ProtobufCFieldDescriptor *f, void *dst,
		      struct flpb_error *err)
{
	int rc;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return str_dup(v, at, dst, err);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(err, -EINVAL,
				    "%s: must be true or false, got %s", at->s,
				    fs_json_kind(v));
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_INT32:
		if ((rc = want(v, JSON_INTEGER, at, "an integer", err)) < 0)
			return rc;
		if (json_integer_value(v) < INT32_MIN ||
		    json_integer_value(v) > INT32_MAX)
			return fail(err, -EINVAL,
				    "%s: must fit in 32 bits, got %lld", at->s,
				    (long long)json_integer_value(v));
		*(int32_t *)dst = (int32_t)json_integer_value(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		const ProtobufCEnumValue *ev = NULL;
		char names[96] = "";

		if (json_is_string(v))
			ev = protobuf_c_enum_descriptor_get_value_by_name(
				e, json_string_value(v));
		else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
			 json_integer_value(v) <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(
				e, (int)json_integer_value(v));
		if (ev != NULL) {
			*(int *)dst = ev->value;
			return 0;
		}
		for (unsigned i = 0; i < e->n_values; i++)
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s\"%s\"",
				 i == 0			? ""
				 : i + 1 == e->n_values ? " or "
							: ", ",
				 e->values[i].name);
		if (json_is_string(v))
			return fail(err, -EINVAL, "%s: must be %s, got \"%s\"",
				    at->s, names, json_string_value(v));
		return fail(err, -EINVAL, "%s: must be %s, got %s", at->s,
			    names, fs_json_kind(v));
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return conv_msg(v, at, f->descriptor, dst, err);
	default: /* no other type in a MicroVMSpec */
		return fail(err, -EINVAL, "%s: unsupported field type", at->s);
	}
}

/* A map<string, string> from a JSON object. */
static int conv_map(const json_t *v, const struct path *at,
		    const ProtobufCFieldDescriptor *f, void ***arr, size_t *n,
		    struct flpb_error *err)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const char *key;
	json_t *val;
	int rc = want(v, JSON_OBJECT, at, "an object", err);

	if (rc < 0 || json_object_size(v) == 0)
		return rc;
	if ((*arr = calloc(json_object_size(v), sizeof(void *))) == NULL)
		return NOMEM(err);
	json_object_foreach((json_t *)v, key, val) {
		struct path kat = sub(at, key);
		ProtobufCMessage *e = msg_new(d);

		if (e == NULL)
			return NOMEM(err);
		(*arr)[(*n)++] = e;
		if ((*AT(e, &d->fields[0], char *) = strdup(key)) == NULL)
			return NOMEM(err);
		if (!json_is_null(val) &&
		    (rc = str_dup(val, &kat, AT(e, &d->fields[1], char *),
				  err)) < 0)
			return rc;
	}
	return 0;
}

/* A repeated field from a JSON array (a map from an object). */
static int conv_repeated(const json_t *v, const struct path *at,
			 const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
			 struct flpb_error *err)
{
	void ***arr = AT(m, f, void **);
	size_t *n = (size_t *)(void *)((char *)m + f->quantifier_offset);
	int rc;

	if (is_map(f))
		return conv_map(v, at, f, arr, n, err);
	if (f->type != PROTOBUF_C_TYPE_MESSAGE &&
	    f->type != PROTOBUF_C_TYPE_STRING)
		return fail(err, -EINVAL, "%s: unsupported field type", at->s);
	if ((rc = want(v, JSON_ARRAY, at, "an array", err)) < 0 ||
	    json_array_size(v) == 0)
		return rc;
	if ((*arr = calloc(json_array_size(v), sizeof(void *))) == NULL)
		return NOMEM(err);
	for (size_t i = 0; i < json_array_size(v); i++) {
		struct path iat = idx(at, i);

		rc = conv_value(json_array_get(v, i), &iat, f, &(*arr)[i],
				err);
		if ((*arr)[i] != NULL)
			*n = i + 1;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The message of descriptor d from the JSON object o; every field under
 * its camelCase or proto name.  *ret is set as soon as allocated, so the
 * caller frees it on error too. */
static int conv_msg(const json_t *o, const struct path *p,
		    const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret,
		    struct flpb_error *err)
{
	ProtobufCMessage *m;
	int rc = want(o, JSON_OBJECT, p, "an object", err);

	if (rc < 0)
		return rc;
	if ((m = msg_new(d)) == NULL)
		return NOMEM(err);
	*ret = m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char camel[64];
		json_t *a, *b, *v;
		struct path at;

		/* The spec's identity and times are not the user's. */
		if (d == &flintlock__types__micro_vmspec__descriptor &&
		    (f->id <= 2 || (f->id >= 12 && f->id <= 15)))
			continue;
		camel_name(f->name, camel, sizeof(camel));
		a = json_object_get(o, camel);
		b = strcmp(camel, f->name) ? json_object_get(o, f->name)
					   : NULL;
		if (a != NULL && b != NULL)
			return fail(err, -EINVAL,
				    "%s: given twice, as %s and %s",
				    sub(p, camel).s, camel, f->name);
		at = sub(p, a != NULL ? camel : f->name);
		v = a != NULL ? a : b;
		if (v == NULL || json_is_null(v))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rc = conv_repeated(v, &at, f, m, err);
		} else {
			rc = conv_value(v, &at, f, AT(m, f, void), err);
			/* A proto3 optional: a oneof whose case is the
			 * field's number; set for a half-built message too,
			 * which is freed only under its case. */
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    (rc == 0 || (f->type == PROTOBUF_C_TYPE_MESSAGE &&
					 *AT(m, f, void *) != NULL)))
				*(uint32_t *)(void *)((char *)m +
						      f->quantifier_offset) =
					f->id;
		}
		if (rc < 0)
			return rc;
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
			    spec ? fs_json_kind(spec) : "nothing");
	req = msg_new(&microvm__services__api__v1alpha1__create_micro_vmrequest__descriptor);
	if (req == NULL)
		return NOMEM(err);
	rc = conv_msg(spec, &(struct path){""},
		      &flintlock__types__micro_vmspec__descriptor,
		      (ProtobufCMessage **)&req->microvm, err);
	if (rc < 0)
		goto out;
	s = req->microvm;
	rc = NOMEM(err);
	if ((s->id = strdup(id)) == NULL ||
	    (s->namespace_ = strdup(ns)) == NULL)
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

/* Create and Get replies are both { MicroVM microvm = 1; }: one struct
 * layout, read through CreateMicroVMResponse. */
static int vm_response(const ProtobufCMessageDescriptor *d, const char *what,
		       const uint8_t *buf, size_t len, struct flpb_vm *ret_vm,
		       struct flpb_error *err)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf);
	struct flpb_vm vm;
	int rc;

	if (m == NULL)
		return BAD(err, what);
	rc = vm_read(((Microvm__Services__Api__V1alpha1__CreateMicroVMResponse *)m)
			     ->microvm,
		     "microvm", &vm, err);
	protobuf_c_message_free_unpacked(m, NULL);
	if (rc == 0)
		*ret_vm = vm;
	return rc;
}

int flpb_create_response(const uint8_t *buf, size_t len,
			 struct flpb_vm *ret_vm, struct flpb_error *err)
{
	return vm_response(
		&microvm__services__api__v1alpha1__create_micro_vmresponse__descriptor,
		"CreateMicroVMResponse", buf, len, ret_vm, err);
}

int flpb_get_response(const uint8_t *buf, size_t len, struct flpb_vm *ret_vm,
		      struct flpb_error *err)
{
	return vm_response(
		&microvm__services__api__v1alpha1__get_micro_vmresponse__descriptor,
		"GetMicroVMResponse", buf, len, ret_vm, err);
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
