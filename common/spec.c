/*
 * A request's MicroVMSpec checked as flintlockd checks it (spec.h).  Two
 * passes: the schema walk checks every known field's JSON type as
 * protojson would (in either spelling, never both), then the rules check
 * values: the conversion's (convert.go), the validate tags', the
 * struct-level rule's (validate.go) and the provider capabilities'
 * (commands.go), in that order.
 */
#include "common/spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QMAX FS_QUOTE_MAX
#define IMAGE_MAX 2048 /* an image reference, sanitized */

const char *fs_json_kind(const json_t *v)
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
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* ---- schema: api/types/microvm.proto, JSON names --------------------- */

enum kind {
	K_STR,
	K_INT,
	K_BOOL,
	K_MAP,
	K_STRS,
	K_ENUM,
	K_TIME,
	K_MSG,
	K_MSGS
};

struct msg;
struct field {
	const char *name; /* lowerCamelCase; the proto name is its snake form */
	enum kind kind;
	const struct msg *sub;
};
struct msg {
	const struct field *v;
	size_t n;
};
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const struct field overrides_f[] = {{"bridgeName", K_STR, NULL}};
static const struct msg overrides_m = {overrides_f, NFIELDS(overrides_f)};
static const struct field address_f[] = {
    {"address", K_STR, NULL},
    {"gateway", K_STR, NULL},
    {"nameservers", K_STRS, NULL},
};
static const struct msg address_m = {address_f, NFIELDS(address_f)};
static const struct field iface_f[] = {
    {"deviceId", K_STR, NULL},		{"type", K_ENUM, NULL},
    {"guestMac", K_STR, NULL},		{"address", K_MSG, &address_m},
    {"overrides", K_MSG, &overrides_m},
};
static const struct msg iface_m = {iface_f, NFIELDS(iface_f)};
static const struct field source_f[] = {
    {"containerSource", K_STR, NULL},
    {"virtiofsSource", K_STR, NULL},
};
static const struct msg source_m = {source_f, NFIELDS(source_f)};
static const struct field volume_f[] = {
    {"id", K_STR, NULL},	  {"isReadOnly", K_BOOL, NULL},
    {"mountPoint", K_STR, NULL},  {"source", K_MSG, &source_m},
    {"partitionId", K_STR, NULL}, {"sizeInMb", K_INT, NULL},
};
static const struct msg volume_m = {volume_f, NFIELDS(volume_f)};
static const struct field kernel_f[] = {
    {"image", K_STR, NULL},
    {"cmdline", K_MAP, NULL},
    {"filename", K_STR, NULL},
    {"addNetworkConfig", K_BOOL, NULL},
};
static const struct msg kernel_m = {kernel_f, NFIELDS(kernel_f)};
static const struct field initrd_f[] = {
    {"image", K_STR, NULL},
    {"filename", K_STR, NULL},
};
static const struct msg initrd_m = {initrd_f, NFIELDS(initrd_f)};
static const struct field spec_f[] = {
    {"id", K_STR, NULL},
    {"namespace", K_STR, NULL},
    {"labels", K_MAP, NULL},
    {"vcpu", K_INT, NULL},
    {"memoryInMb", K_INT, NULL},
    {"kernel", K_MSG, &kernel_m},
    {"initrd", K_MSG, &initrd_m},
    {"rootVolume", K_MSG, &volume_m},
    {"additionalVolumes", K_MSGS, &volume_m},
    {"interfaces", K_MSGS, &iface_m},
    {"metadata", K_MAP, NULL},
    {"createdAt", K_TIME, NULL},
    {"updatedAt", K_TIME, NULL},
    {"deletedAt", K_TIME, NULL},
    {"uid", K_STR, NULL},
    {"provider", K_STR, NULL},
    {"allowGuestAgent", K_BOOL, NULL},
};
static const struct msg spec_m = {spec_f, NFIELDS(spec_f)};

/* memoryInMb -> memory_in_mb (protojson's other spelling). */
static const char *snake(const char *camel, char *buf, size_t n)
{
	size_t o = 0;

	for (; *camel && o + 2 < n; camel++) {
		if (*camel >= 'A' && *camel <= 'Z') {
			buf[o++] = '_';
			buf[o++] = (char)(*camel - 'A' + 'a');
		} else {
			buf[o++] = *camel;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Lower case without '_': what a near miss of a name has in common. */
static bool same_loosely(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		char ca =
		    (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
		char cb =
		    (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
		if (ca != cb)
			return false;
		if (!ca)
			return true;
		a++;
		b++;
	}
}

static const struct field *field_find(const struct msg *m, const char *key,
				      bool loosely)
{
	char sn[64];

	for (size_t i = 0; i < m->n; i++) {
		const char *name = m->v[i].name;

		if (loosely ? same_loosely(key, name)
			    : (strcmp(key, name) == 0 ||
			       strcmp(key, snake(name, sn, sizeof(sn))) == 0))
			return &m->v[i];
	}
	return NULL;
}

/* Member `camel` of o in either spelling, NULL when absent or null (as
 * protojson reads null); *ret_key (if not NULL) the spelling used. */
static json_t *get(const json_t *o, const char *camel, const char **ret_key)
{
	char sn[64];
	const char *k = camel;
	json_t *v = json_object_get(o, camel);

	if (!v) {
		snake(camel, sn, sizeof(sn));
		v = json_object_get(o, sn);
		k = json_object_iter_key(json_object_iter_at((json_t *)o, sn));
	}
	if (ret_key)
		*ret_key = k ? k : camel;
	return json_is_null(v) ? NULL : v;
}

static const char *str_of(const json_t *o, const char *camel)
{
	return json_string_value(get(o, camel, NULL)); /* NULL if absent */
}

static bool nonempty(const char *s)
{
	return s && *s;
}

static int walk(const json_t *obj, const struct msg *m, const char *path,
		char *reason, size_t len);

static int walk_value(const json_t *v, const struct field *f, const char *at,
		      char *reason, size_t len)
{
	char sub[192], q[QMAX + 16];
	const char *k;
	json_t *e;
	size_t i;
	int rc;

	switch (f->kind) {
	case K_STR:
	case K_TIME:
		if (!json_is_string(v))
			return fs_fail(reason, len,
				       "%s: must be a string, got %s", at,
				       fs_json_kind(v));
		return 0;
	case K_INT:
		if (!json_is_integer(v))
			return fs_fail(reason, len,
				       "%s: must be an integer, got %s", at,
				       fs_json_kind(v));
		if (json_integer_value(v) < INT32_MIN ||
		    json_integer_value(v) > INT32_MAX)
			return fs_fail(
			    reason, len,
			    "%s: %lld does not fit flintlockd's int32", at,
			    (long long)json_integer_value(v));
		return 0;
	case K_BOOL:
		if (!json_is_boolean(v))
			return fs_fail(reason, len,
				       "%s: must be true or false, got %s", at,
				       fs_json_kind(v));
		return 0;
	case K_ENUM:
		if (!json_is_string(v) && !json_is_integer(v))
			return fs_fail(
			    reason, len,
			    "%s: must be a name such as \"TAP\", got %s", at,
			    fs_json_kind(v));
		return 0;
	case K_MAP:
		if (!json_is_object(v))
			return fs_fail(
			    reason, len,
			    "%s: must be an object of strings, got %s", at,
			    fs_json_kind(v));
		json_object_foreach((json_t *)v, k, e)
		{
			if (!json_is_string(e)) /* protojson: null too */
				return fs_fail(
				    reason, len,
				    "%s.%s: must be a string, got %s", at,
				    fs_key(q, sizeof(q), k), fs_json_kind(e));
		}
		return 0;
	case K_STRS:
	case K_MSGS:
		if (!json_is_array(v))
			return fs_fail(reason, len,
				       "%s: must be an array, got %s", at,
				       fs_json_kind(v));
		json_array_foreach(v, i, e)
		{
			if (f->kind == K_STRS && !json_is_string(e))
				return fs_fail(
				    reason, len,
				    "%s[%zu]: must be a string, got %s", at, i,
				    fs_json_kind(e));
			if (f->kind == K_STRS)
				continue;
			snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
			if (!json_is_object(e))
				return fs_fail(reason, len,
					       "%s: must be an object, got %s",
					       sub, fs_json_kind(e));
			strncat(sub, ".", sizeof(sub) - strlen(sub) - 1);
			if ((rc = walk(e, f->sub, sub, reason, len)))
				return rc;
		}
		return 0;
	case K_MSG:
		if (!json_is_object(v))
			return fs_fail(reason, len,
				       "%s: must be an object, got %s", at,
				       fs_json_kind(v));
		snprintf(sub, sizeof(sub), "%s.", at);
		return walk(v, f->sub, sub, reason, len);
	}
	return 0;
}

static int walk(const json_t *obj, const struct msg *m, const char *path,
		char *reason, size_t len)
{
	char at[192], sn[64];
	const char *k, *other;
	const struct field *f;
	json_t *v;
	int rc;

	json_object_foreach((json_t *)obj, k, v)
	{
		f = field_find(m, k, false);
		if (!f) {
			/* flintlockd drops unknown fields: memoryInMB would
			 * silently become the default. */
			f = field_find(m, k, true);
			if (f)
				return fs_fail(
				    reason, len,
				    "%s%.64s: unknown field, which "
				    "flintlockd ignores; did you mean "
				    "%s?",
				    path, k, f->name);
			continue;
		}
		other = strcmp(k, f->name) == 0 ? snake(f->name, sn, sizeof(sn))
						: f->name;
		if (strcmp(other, k) != 0 && json_object_get(obj, other))
			return fs_fail(
			    reason, len,
			    "%s%s: given twice, as %s and %s; keep one", path,
			    f->name, f->name, snake(f->name, sn, sizeof(sn)));
		if (json_is_null(v))
			continue;
		snprintf(at, sizeof(at), "%s%s", path, k);
		if ((rc = walk_value(v, f, at, reason, len)))
			return rc;
	}
	return 0;
}

/* ---- value syntax, as Go parses it ------------------------------------ */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* net/url's unescape: every % starts %XX. */
static bool escapes_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '%' &&
		    (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
			return false;
	return true;
}

static const char *mem_rchr(const char *s, size_t n, char c)
{
	while (n--)
		if (s[n] == c)
			return s + n;
	return NULL;
}

static bool port_ok(const char *p, size_t n) /* "" or ":" digits */
{
	if (n == 0)
		return true;
	if (p[0] != ':')
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* net/url's parseHost + unescape(host, encodeHost). */
static bool host_ok(const char *h, size_t n)
{
	const char *e;

	if (n == 0)
		return false; /* reference.ErrHostnameRequired */
	if (h[0] == '[') {
		e = mem_rchr(h, n, ']');
		if (!e || !port_ok(e + 1, n - (size_t)(e + 1 - h)))
			return false;
	} else if ((e = mem_rchr(h, n, ':')) &&
		   !port_ok(e, n - (size_t)(e - h))) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '%') {
			if (i + 2 >= n || !is_hex(h[i + 1]) ||
			    !is_hex(h[i + 2]))
				return false;
			/* ASCII may not be %-encoded in a host, but %25. */
			if (h[i + 1] < '8' && memcmp(h + i, "%25", 3) != 0)
				return false;
			i += 2;
		} else if (c < 0x80 && !is_alnum((char)c) &&
			   !strchr("-_.~!$&'()*+,;=:[]<>\"", (char)c)) {
			return false;
		}
	}
	return true;
}

static bool userinfo_ok(const char *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(u[i]) && !strchr("-._:~!$&'()*+,;=%@", u[i]))
			return false;
	return escapes_ok(u, n);
}

/*
 * containerd's reference.Parse (the imageURI validator), which is
 * url.Parse("dummy://" + s) with a host required: no "://", then fragment,
 * query, authority ([userinfo@]host[:port]) and path.
 */
static bool image_ref_ok(const char *s)
{
	size_t n = strlen(s);
	const char *p, *at;

	if (strstr(s, "://"))
		return false;
	if ((p = memchr(s, '#', n))) {
		if (!escapes_ok(p + 1, n - (size_t)(p + 1 - s)))
			return false;
		n = (size_t)(p - s);
	}
	if ((p = memchr(s, '?', n)))
		n = (size_t)(p - s);
	p = memchr(s, '/', n);
	if (p && !escapes_ok(p, n - (size_t)(p - s)))
		return false;
	if (p)
		n = (size_t)(p - s);
	at = mem_rchr(s, n, '@');
	if (at && !userinfo_ok(s, (size_t)(at - s)))
		return false;
	return at ? host_ok(at + 1, n - (size_t)(at + 1 - s)) : host_ok(s, n);
}

/* sanitize.go: TrimSpace, then control characters dropped.  Returns
 * false if the result does not fit out[IMAGE_MAX]. */
static bool image_clean(const char *s, char *out)
{
	size_t n = strlen(s), o = 0;

	while (n && strchr(" \t\n\v\f\r", s[n - 1]))
		n--;
	while (n && strchr(" \t\n\v\f\r", s[0])) {
		s++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) { /* C1, U+0080..9F */
			i++;
			continue;
		}
		if (o + 1 >= IMAGE_MAX)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

/* net.ParseMAC: 6, 8 or 20 octets as xx:xx.., xx-xx.. or xxxx.xxxx.. */
static bool mac_ok(const char *s)
{
	size_t n = strlen(s), groups, glen;
	char sep;

	if (n < 14)
		return false;
	if (s[2] == ':' || s[2] == '-') {
		sep = s[2];
		glen = 2;
	} else if (s[4] == '.') {
		sep = '.';
		glen = 4;
	} else {
		return false;
	}
	if ((n + 1) % (glen + 1) != 0)
		return false;
	groups = (n + 1) / (glen + 1);
	if (groups * glen / 2 != 6 && groups * glen / 2 != 8 &&
	    groups * glen / 2 != 20)
		return false;
	for (size_t g = 0; g < groups; g++) {
		const char *x = s + g * (glen + 1);

		for (size_t i = 0; i < glen; i++)
			if (!is_hex(x[i]))
				return false;
		if (g + 1 < groups && x[glen] != sep)
			return false;
	}
	return true;
}

/* netip.ParseAddr without a zone (what net.ParseIP accepts): the first
 * '.' or ':' decides the family; glibc's inet_pton has the same rules
 * (no leading zeros in IPv4, "::" for at least one group). */
static int ip_family(const char *s)
{
	size_t i = strcspn(s, ".:");

	return s[i] == '.' ? AF_INET : AF_INET6;
}

static bool ip_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(ip_family(s), s, buf) == 1;
}

/* net.ParseCIDR: an address, '/', decimal prefix length <= its bits. */
static bool cidr_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[64];
	unsigned char buf[16];
	size_t n;
	long bits = 0;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return false;
	n = (size_t)(slash - s);
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(ip_family(addr), addr, buf) != 1 || !slash[1])
		return false;
	for (const char *d = slash + 1; *d; d++) {
		if (*d < '0' || *d > '9' || bits > 1000)
			return false;
		bits = bits * 10 + (*d - '0');
	}
	return bits <= (ip_family(addr) == AF_INET ? 32 : 128);
}

/* encoding/base64 StdEncoding (padded; CR and LF skipped). */
static bool base64_ok(const char *s)
{
	size_t n = 0, pad = 0;

	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			continue;
		if (*s == '=') {
			pad++;
		} else if (pad || (!is_alnum(*s) && *s != '+' && *s != '/')) {
			return false;
		}
		n++;
	}
	return n % 4 == 0 && pad <= 2;
}

static bool device_id_ok(const char *s) /* ^[a-z][a-z0-9_]*$ */
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') &&
		    *s != '_')
			return false;
	return true;
}

/* ---- rules ------------------------------------------------------------ */

struct provider {
	const char *name;
	bool macvtap, virtiofs; /* Capabilities() of each provider */
};

static const struct provider providers[] = {
    {"firecracker", false, false},
    {"cloudhypervisor", true, true},
};

static int check_res(const json_t *spec, const char *name, int64_t lo,
		     int64_t hi, int64_t def, int64_t *out, char *reason,
		     size_t len)
{
	const char *k;
	json_t *v = get(spec, name, &k);
	json_int_t n;

	*out = def;
	if (!v)
		return 0;
	n = json_integer_value(v);
	if (n == 0)
		return fs_fail(reason, len,
			       "%s: must be %lld..%lld, got 0; omit it for "
			       "flintlockd's default of %lld",
			       k, (long long)lo, (long long)hi, (long long)def);
	if (n < lo || n > hi)
		return fs_fail(reason, len, "%s: must be %lld..%lld, got %lld",
			       k, (long long)lo, (long long)hi, (long long)n);
	*out = (int64_t)n;
	return 0;
}

/* An image reference at field `at`: present, and parsable once
 * sanitized as flintlockd sanitizes it. */
static int check_image(const char *raw, const char *at, char *reason,
		       size_t len)
{
	char clean[IMAGE_MAX], q[QMAX + 16];

	if (!raw)
		return fs_fail(reason, len, "%s: missing; name an OCI image",
			       at);
	if (!image_clean(raw, clean))
		return fs_fail(reason, len, "%s: longer than %d bytes", at,
			       IMAGE_MAX - 1);
	if (!image_ref_ok(clean))
		return fs_fail(
		    reason, len,
		    "%s: %s is not an image reference flintlockd can "
		    "parse (registry/name:tag, with a registry host)",
		    at, fs_quote(q, sizeof(q), raw, QMAX));
	return 0;
}

/* models.Kernel has validate:"omitempty": checked only when not its zero
 * value, which a kernel with an image, filename, cmdline (even {}) or
 * addNetworkConfig is not. */
static int check_kernel(const json_t *spec, char *reason, size_t len)
{
	json_t *k = get(spec, "kernel", NULL), *anc;
	const char *img;
	char clean[IMAGE_MAX];

	if (!k)
		return 0;
	img = str_of(k, "image");
	anc = get(k, "addNetworkConfig", NULL);
	/* A too long image counts as given, to be refused below. */
	if (!(img && (!image_clean(img, clean) || clean[0])) &&
	    !nonempty(str_of(k, "filename")) && !get(k, "cmdline", NULL) &&
	    !json_is_true(anc))
		return 0;
	if (!img || !*img)
		return fs_fail(
		    reason, len,
		    "kernel.image: missing; a kernel needs an image and "
		    "a filename");
	if (check_image(img, "kernel.image", reason, len))
		return -EINVAL;
	if (!nonempty(str_of(k, "filename")))
		return fs_fail(
		    reason, len,
		    "kernel.filename: missing; required with a kernel "
		    "(its path in the image, e.g. boot/vmlinux)");
	return 0;
}

/* Not the zero models.Volume (convert.go copies an optional string only
 * when set, a source pointer even when ""). */
static bool volume_given(const json_t *v)
{
	json_t *src = get(v, "source", NULL), *size = get(v, "sizeInMb", NULL);

	return v && (nonempty(str_of(v, "id")) ||
		     json_is_true(get(v, "isReadOnly", NULL)) ||
		     nonempty(str_of(v, "mountPoint")) ||
		     nonempty(str_of(v, "partitionId")) ||
		     (size && json_integer_value(size) != 0) ||
		     (src && (str_of(src, "containerSource") ||
			      str_of(src, "virtiofsSource"))));
}

static int check_volumes(const json_t *spec, const struct provider *p,
			 char *reason, size_t len)
{
	json_t *root = get(spec, "rootVolume", NULL), *initrd;
	json_t *vols = get(spec, "additionalVolumes", NULL), *v, *src;
	size_t i, virtiofs = 0;

	initrd = get(spec, "initrd", NULL);
	if (initrd &&
	    check_image(str_of(initrd, "image"), "initrd.image", reason, len))
		return -EINVAL;
	if (!initrd && !volume_given(root))
		return fs_fail(reason, len,
			       "rootVolume: missing; flintlockd needs a root "
			       "volume or an initrd, e.g. \"rootVolume\": "
			       "{\"id\": \"root\", \"source\": "
			       "{\"containerSource\": IMAGE}}");
	if (root && (src = get(root, "source", NULL)) &&
	    str_of(src, "virtiofsSource"))
		return fs_fail(
		    reason, len,
		    "rootVolume.source.virtiofsSource: not allowed on "
		    "the root volume");
	json_array_foreach(vols, i, v)
	{
		if (!(src = get(v, "source", NULL)) ||
		    !str_of(src, "virtiofsSource"))
			continue;
		if (str_of(src, "containerSource"))
			return fs_fail(reason, len,
				       "additionalVolumes[%zu].source: "
				       "containerSource and virtiofsSource "
				       "exclude each other",
				       i);
		if (++virtiofs > 1)
			return fs_fail(reason, len,
				       "additionalVolumes[%zu].source."
				       "virtiofsSource: at most one virtiofs "
				       "volume",
				       i);
		if (!p->virtiofs)
			return fs_fail(
			    reason, len,
			    "additionalVolumes[%zu].source."
			    "virtiofsSource: %s supports no virtiofs",
			    i, p->name);
	}
	return 0;
}

static int check_address(const json_t *a, size_t i, char *reason, size_t len)
{
	const char *addr = str_of(a, "address"), *gw = str_of(a, "gateway");
	json_t *ns = get(a, "nameservers", NULL), *v;
	char q[QMAX + 16];
	size_t j;

	if (!addr || !cidr_ok(addr))
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].address.address: must be an "
		    "address in CIDR form like 10.0.0.5/24, got %s",
		    i, addr ? fs_quote(q, sizeof(q), addr, QMAX) : "nothing");
	if (gw && !cidr_ok(gw))
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].address.gateway: must be in CIDR "
		    "form like 10.0.0.1/24, got %s",
		    i, fs_quote(q, sizeof(q), gw, QMAX));
	json_array_foreach(ns, j, v)
	{
		if (!ip_ok(json_string_value(v)))
			return fs_fail(
			    reason, len,
			    "interfaces[%zu].address.nameservers[%zu]: "
			    "%s is not an IP address",
			    i, j,
			    fs_quote(q, sizeof(q), json_string_value(v), QMAX));
	}
	return 0;
}

static int check_iface(const json_t *nic, size_t i, const struct provider *p,
		       char *reason, size_t len)
{
	const char *dev = str_of(nic, "deviceId"),
		   *mac = str_of(nic, "guestMac");
	json_t *type = get(nic, "type", NULL), *a, *o;
	const char *t = type ? json_string_value(type) : "MACVTAP";
	char q[QMAX + 16];

	if (!nonempty(dev))
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].deviceId: missing; name the guest "
		    "device, e.g. \"eth1\"",
		    i);
	if (!device_id_ok(dev))
		return fs_fail(reason, len,
			       "interfaces[%zu].deviceId: must match "
			       "^[a-z][a-z0-9_]*$, got %s",
			       i, fs_quote(q, sizeof(q), dev, QMAX));
	if (type && !t)
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].type: must be the name \"TAP\", "
		    "got %lld",
		    i, (long long)json_integer_value(type));
	if (strcmp(t, "TAP") != 0 && strcmp(t, "MACVTAP") != 0)
		return fs_fail(reason, len,
			       "interfaces[%zu].type: must be \"TAP\" or "
			       "\"MACVTAP\", got %s",
			       i, fs_quote(q, sizeof(q), t, QMAX));
	if (strcmp(t, "MACVTAP") == 0 && !p->macvtap)
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].type: must be \"TAP\" (%s supports "
		    "no macvtap), got %s",
		    i, p->name,
		    type ? "\"MACVTAP\"" : "nothing (the default is MACVTAP)");
	if (nonempty(mac) && !mac_ok(mac))
		return fs_fail(
		    reason, len,
		    "interfaces[%zu].guestMac: %s is not a MAC address "
		    "like aa:bb:cc:dd:ee:ff",
		    i, fs_quote(q, sizeof(q), mac, QMAX));
	if ((a = get(nic, "address", NULL)) && check_address(a, i, reason, len))
		return -EINVAL;
	/* convert.go dereferences overrides.bridgeName unchecked. */
	if ((o = get(nic, "overrides", NULL)) && !str_of(o, "bridgeName"))
		return fs_fail(reason, len,
			       "interfaces[%zu].overrides.bridgeName: missing; "
			       "flintlockd crashes on overrides without it",
			       i);
	return 0;
}

int fs_spec_check(const json_t *spec, const char *id, struct fs_res *ret_res,
		  char *reason, size_t len)
{
	const struct provider *p = &providers[0];
	const char *s, *k;
	struct fs_res res = {.vms = 1};
	char q[QMAX + 16];
	json_t *nics, *v;
	size_t i;

	if (!json_is_object(spec))
		return fs_fail(reason, len, "request: must be a JSON object");
	if (walk(spec, &spec_m, "", reason, len))
		return -EINVAL;
	/* id and namespace are the scheduler's: the agent sets them. */
	if ((s = str_of(spec, "id")) && strcmp(s, id) != 0)
		return fs_fail(
		    reason, len,
		    "id: %s does not match the key's id \"%s\"; make "
		    "them equal or drop the field",
		    fs_quote(q, sizeof(q), s, QMAX), id);
	if ((s = str_of(spec, "namespace")) && !fs_name_valid(s))
		return fs_fail(reason, len,
			       "namespace: %s is not a valid namespace (use "
			       "[a-z0-9._-], 1..63 chars), or drop the field",
			       fs_quote(q, sizeof(q), s, QMAX));
	if (check_res(spec, "vcpu", 1, FS_SPEC_VCPU_MAX, FS_SPEC_VCPU_DEFAULT,
		      &res.vcpu, reason, len) ||
	    check_res(spec, "memoryInMb", FS_SPEC_MEMORY_MIN,
		      FS_SPEC_MEMORY_MAX, FS_SPEC_MEMORY_DEFAULT,
		      &res.memory_mb, reason, len))
		return -EINVAL;
	if (nonempty(s = str_of(spec, "provider"))) {
		p = NULL;
		for (i = 0; !p && i < sizeof(providers) / sizeof(providers[0]);
		     i++)
			if (strcmp(s, providers[i].name) == 0)
				p = &providers[i];
		if (!p)
			return fs_fail(reason, len,
				       "provider: must be \"firecracker\" or "
				       "\"cloudhypervisor\", got %s",
				       fs_quote(q, sizeof(q), s, QMAX));
	}
	if (check_kernel(spec, reason, len) ||
	    check_volumes(spec, p, reason, len))
		return -EINVAL;
	nics = get(spec, "interfaces", &k);
	if (json_array_size(nics) == 0)
		return fs_fail(reason, len,
			       "interfaces: missing; flintlockd needs at least "
			       "one, e.g. [{\"deviceId\": \"eth1\", \"type\": "
			       "\"TAP\"}]");
	json_array_foreach(nics, i, v)
	{
		if (check_iface(v, i, p, reason, len))
			return -EINVAL;
	}
	/* commands.go base64-decodes meta-data to add instance_id to it. */
	v = get(spec, "metadata", NULL);
	if ((s = json_string_value(json_object_get(v, "meta-data"))) && *s &&
	    !base64_ok(s))
		return fs_fail(reason, len,
			       "metadata.meta-data: must be base64 (flintlockd "
			       "decodes it to add the instance_id)");
	*ret_res = res;
	return 0;
}

void fs_spec_res(const json_t *spec, struct fs_res *ret_res)
{
	json_t *v = get(spec, "vcpu", NULL), *m = get(spec, "memoryInMb", NULL);

	ret_res->vcpu = json_integer_value(v) > 0 ? json_integer_value(v)
						  : FS_SPEC_VCPU_DEFAULT;
	ret_res->memory_mb = json_integer_value(m) > 0 ? json_integer_value(m)
						       : FS_SPEC_MEMORY_DEFAULT;
	ret_res->vms = 1;
}
