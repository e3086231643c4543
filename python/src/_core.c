/*
 * rewardflow_engine._core: the CPython side of the binding, over the engine's C API
 * (include/rewardflow.h). Limited API 3.11 (one abi3 wheel for every CPython from 3.11 on).
 *
 * Its one job is to hand the trainer's columns to `rf_batch_append_columns` where they lie:
 *
 *   - str objects: `PyUnicode_AsUTF8AndSize` (CPython's own UTF-8 copy of the string; for the
 *     common compact ASCII string that is the string's data itself, so nothing is encoded);
 *     bytes objects: their data. Lists, tuples and NumPy object arrays are walked in C.
 *   - NumPy `S` arrays: views into the array; `U` arrays: UCS-4 encoded to UTF-8 once.
 *   - Arrow string arrays (`string`, `large_string`, `string_view`, and their binary
 *     counterparts) through the Arrow PyCapsule interface: views into Arrow's buffers,
 *     or Arrow's own offsets and data for `large_string`.
 *   - numbers and flags: buffers of exactly int64 / float64 / uint64 / uint8 (the Python side
 *     converts other dtypes with NumPy first).
 *
 * The GIL is released while the engine scores. While the engine copies strings that live inside
 * Python objects it is held (another thread could otherwise free such an object mid-copy);
 * columns that only point into buffers we hold (Arrow, NumPy S/U) are appended without it.
 *
 * Every error names the column and the row: `state[12]: expected str or bytes, got NoneType`.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rewardflow.h"

/* ---- The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html) */

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

/* ---- One string column being handed over ------------------------------------------------ */

typedef struct {
    const char *name;             /* the argument's name, for messages */
    rf_string_column column;      /* what the engine reads */
    rf_string_view *views;        /* owned: RF_STRINGS_VIEWS storage (may come from the workspace) */
    size_t views_capacity;        /* entries `views` has room for */
    char *bytes;                  /* owned: UTF-8 of a NumPy U array */
    int64_t *offsets;             /* owned: offsets into `bytes` */
    PyObject *holders;            /* list: objects whose memory the views point into */
    struct ArrowArray *arrays;    /* owned: chunks taken from an Arrow stream */
    Py_ssize_t array_count;
    int borrows_objects;          /* views point into Python objects (the GIL must be held) */
} StringColumn;

static void string_column_free(StringColumn *c) {
    for (Py_ssize_t i = 0; i < c->array_count; i++)
        if (c->arrays[i].release) c->arrays[i].release(&c->arrays[i]);
    free(c->arrays);
    free(c->views);
    free(c->bytes);
    free(c->offsets);
    Py_XDECREF(c->holders);
    memset(c, 0, sizeof *c);
}

/* Keeps `object` alive until the column is freed. Returns -1 with an exception set on failure. */
static int hold(StringColumn *c, PyObject *object) {
    if (!c->holders && !(c->holders = PyList_New(0))) return -1;
    return PyList_Append(c->holders, object);
}

/* Room for `count` views: the column's buffer (handed over by the workspace) when large enough. */
static rf_string_view *allocate_views(StringColumn *c, Py_ssize_t count) {
    size_t needed = (size_t)(count > 0 ? count : 1);
    if (!c->views || c->views_capacity < needed) {
        free(c->views);
        c->views = malloc(sizeof(rf_string_view) * needed);
        c->views_capacity = c->views ? needed : 0;
    }
    if (!c->views) PyErr_NoMemory();
    c->column.layout = RF_STRINGS_VIEWS;
    c->column.views = c->views;
    return c->views;
}

/* The view of one str / bytes object (`row` for messages). A str with lone surrogates has no
 * UTF-8 form; it is encoded with "surrogatepass", so the engine refuses it naming the row. */
static int object_view(StringColumn *c, PyObject *item, Py_ssize_t row, rf_string_view *out) {
    Py_ssize_t length;
    if (PyUnicode_Check(item)) {
        const char *data = PyUnicode_AsUTF8AndSize(item, &length);
        if (data) {
            out->data = data;
            out->length = length;
            return 0;
        }
        PyErr_Clear();
        PyObject *encoded = PyUnicode_AsEncodedString(item, "utf-8", "surrogatepass");
        if (!encoded || hold(c, encoded) < 0) {
            Py_XDECREF(encoded);
            return -1;
        }
        Py_DECREF(encoded);
        item = encoded;
    }
    if (PyBytes_Check(item)) {
        char *data;
        if (PyBytes_AsStringAndSize(item, &data, &length) < 0) return -1;
        out->data = data;
        out->length = length;
        return 0;
    }
    if (PyByteArray_Check(item) || PyMemoryView_Check(item)) {
        PyObject *copy = PyBytes_FromObject(item);
        if (!copy) return -1;
        int failed = hold(c, copy);
        Py_DECREF(copy);
        return failed < 0 ? -1 : object_view(c, copy, row, out);
    }
    PyObject *type = PyType_GetName(Py_TYPE(item));
    PyErr_Format(PyExc_TypeError, "%s[%zd]: expected str or bytes, got %U", c->name, row, type);
    Py_XDECREF(type);
    return -1;
}

/* Views of `count` objects read by `item(source, i)` (borrowed references). */
static int objects_column(StringColumn *c, PyObject *source, Py_ssize_t count,
                          PyObject *(*item)(PyObject *, Py_ssize_t)) {
    rf_string_view *views = allocate_views(c, count);
    if (!views) return -1;
    c->borrows_objects = 1;
    PyObject *previous = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *object = item(source, i);
        if (!object) return -1;
        if (object == previous) { views[i] = views[i - 1]; continue; }
        if (object_view(c, object, i, &views[i]) < 0) return -1;
        previous = object;
    }
    return 0;
}

/* ---- NumPy arrays through the buffer protocol -------------------------------------------- */

/* How many objects ahead the walks over object arrays fetch headers. */
#define PREFETCH_DISTANCE 16

/* Items of a 1-D buffer of PyObject pointers ("O"); views over them. */
static int object_buffer_column(StringColumn *c, const Py_buffer *b, Py_ssize_t count) {
    rf_string_view *views = allocate_views(c, count);
    if (!views) return -1;
    c->borrows_objects = 1;
    const char *base = b->buf;
    Py_ssize_t stride = b->strides ? b->strides[0] : b->itemsize;
    PyObject *previous = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        /* The objects lie anywhere in the heap: fetch their headers ahead of use. */
        if (i + PREFETCH_DISTANCE < count) __builtin_prefetch(*(PyObject *const *)(base + (i + PREFETCH_DISTANCE) * stride));
        PyObject *object = *(PyObject *const *)(base + i * stride);
        if (!object) {
            PyErr_Format(PyExc_TypeError, "%s[%zd]: expected str or bytes, got NULL", c->name, i);
            return -1;
        }
        if (object == previous) { views[i] = views[i - 1]; continue; }
        if (object_view(c, object, i, &views[i]) < 0) return -1;
        previous = object;
    }
    return 0;
}

/* A NumPy `S` array: fixed-width bytes, trailing NULs stripped (NumPy's own reading). */
static int bytes_buffer_column(StringColumn *c, const Py_buffer *b, Py_ssize_t count) {
    rf_string_view *views = allocate_views(c, count);
    if (!views) return -1;
    const char *base = b->buf;
    Py_ssize_t stride = b->strides ? b->strides[0] : b->itemsize, width = b->itemsize;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *item = base + i * stride;
        Py_ssize_t length = width;
        while (length > 0 && item[length - 1] == 0) length--;
        views[i].data = item;
        views[i].length = length;
    }
    return 0;
}

/* Appends the UTF-8 form of code point `u` at `out`; surrogates are written as their 3-byte
 * form and values past U+10FFFF as the invalid byte 0xFF, so the engine refuses both. */
static char *put_utf8(char *out, uint32_t u) {
    if (u < 0x80) { *out++ = (char)u; }
    else if (u < 0x800) { *out++ = (char)(0xC0 | (u >> 6)); *out++ = (char)(0x80 | (u & 0x3F)); }
    else if (u < 0x10000) {
        *out++ = (char)(0xE0 | (u >> 12)); *out++ = (char)(0x80 | ((u >> 6) & 0x3F));
        *out++ = (char)(0x80 | (u & 0x3F));
    } else if (u <= 0x10FFFF) {
        *out++ = (char)(0xF0 | (u >> 18)); *out++ = (char)(0x80 | ((u >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((u >> 6) & 0x3F)); *out++ = (char)(0x80 | (u & 0x3F));
    } else { *out++ = (char)0xFF; }
    return out;
}

/* A NumPy `U` array: fixed-width UCS-4 in native byte order, trailing NULs stripped; encoded to
 * UTF-8 once into bytes + offsets (the only layout here that is not zero-copy). */
static int ucs4_buffer_column(StringColumn *c, const Py_buffer *b, Py_ssize_t count) {
    Py_ssize_t width = b->itemsize / 4, stride = b->strides ? b->strides[0] : b->itemsize;
    c->bytes = malloc((size_t)(count * width * 4 + 1));
    c->offsets = malloc(sizeof(int64_t) * (size_t)(count + 1));
    if (!c->bytes || !c->offsets) { PyErr_NoMemory(); return -1; }
    char *out = c->bytes;
    c->offsets[0] = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *item = (const char *)b->buf + i * stride;
        Py_ssize_t length = width;
        uint32_t u;
        while (length > 0 && (memcpy(&u, item + 4 * (length - 1), 4), u == 0)) length--;
        for (Py_ssize_t k = 0; k < length; k++) {
            memcpy(&u, item + 4 * k, 4);
            out = put_utf8(out, u);
        }
        c->offsets[i + 1] = out - c->bytes;
    }
    c->column.layout = RF_STRINGS_OFFSETS;
    c->column.data = c->bytes;
    c->column.offsets = c->offsets;
    return 0;
}

/* An integer array (NumPy ids such as a trainer's group index): the decimal text of each
 * value, as `str(value)` gives it, so integer ids group exactly as their texts would. Runs of
 * equal values share one view (the engine then skips re-interning them). */
static int integer_buffer_column(StringColumn *c, const Py_buffer *b, Py_ssize_t count, char kind) {
    Py_ssize_t stride = b->strides ? b->strides[0] : b->itemsize;
    int is_signed = kind == 'b' || kind == 'h' || kind == 'i' || kind == 'l' || kind == 'q' || kind == 'n';
    rf_string_view *views = allocate_views(c, count);
    c->bytes = malloc((size_t)(count * 20 + 1));
    if (!views || !c->bytes) { if (views) PyErr_NoMemory(); return -1; }
    char *out = c->bytes;
    int have_previous = 0;
    uint64_t previous = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *item = (const char *)b->buf + i * stride;
        uint64_t bits = 0;
        int64_t value = 0;
        switch (b->itemsize) {
        case 1: { int8_t v; uint8_t u; memcpy(&v, item, 1); memcpy(&u, item, 1); value = is_signed ? v : u; break; }
        case 2: { int16_t v; uint16_t u; memcpy(&v, item, 2); memcpy(&u, item, 2); value = is_signed ? v : u; break; }
        case 4: { int32_t v; uint32_t u; memcpy(&v, item, 4); memcpy(&u, item, 4); value = is_signed ? v : (int64_t)u; break; }
        default: memcpy(&bits, item, 8); value = (int64_t)bits; break;
        }
        bits = (uint64_t)value;
        if (have_previous && bits == previous) { views[i] = views[i - 1]; continue; }
        have_previous = 1;
        previous = bits;
        /* Decimal digits, most significant first; the magnitude of a negative value is taken in
         * unsigned arithmetic (INT64_MIN has none in int64). */
        int negative = is_signed && value < 0;
        uint64_t magnitude = negative ? 0 - bits : bits;
        char digits[20];
        int n = 0;
        do { digits[n++] = (char)('0' + magnitude % 10); magnitude /= 10; } while (magnitude);
        views[i].data = out;
        if (negative) *out++ = '-';
        while (n) *out++ = digits[--n];
        views[i].length = out - views[i].data;
    }
    return 0;
}

/* 1-D buffer of `count` items with format O, Ns, Nw or an integer format. Returns 1 when
 * `object` is no buffer. */
static int buffer_column(StringColumn *c, PyObject *object, Py_ssize_t count) {
    if (!PyObject_CheckBuffer(object)) return 1;
    Py_buffer b;
    if (PyObject_GetBuffer(object, &b, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return -1;
    int result = -1;
    const char *format = b.format ? b.format : "B";
    while (*format == '<' || *format == '>' || *format == '=' || *format == '|' || *format == '@') format++;
    while (*format >= '0' && *format <= '9') format++;
    if (b.ndim != 1) {
        PyErr_Format(PyExc_ValueError, "%s: expected a 1-D array, got %d dimensions", c->name, b.ndim);
    } else if (b.shape[0] != count) {
        PyErr_Format(PyExc_ValueError, "%s: %zd values for %zd rows", c->name, b.shape[0], count);
    } else if (strcmp(format, "O") == 0) {
        result = object_buffer_column(c, &b, count);
    } else if (strcmp(format, "s") == 0) {
        result = bytes_buffer_column(c, &b, count);
        if (result == 0) result = hold(c, object);
    } else if (strcmp(format, "w") == 0 && b.itemsize % 4 == 0) {
        result = ucs4_buffer_column(c, &b, count);
    } else if (format[0] && !format[1] && strchr("bBhHiIlLqQnN", format[0]) &&
               (b.itemsize == 1 || b.itemsize == 2 || b.itemsize == 4 || b.itemsize == 8)) {
        result = integer_buffer_column(c, &b, count, format[0]);
    } else {
        PyErr_Format(PyExc_TypeError, "%s: expected strings, got an array of format '%s'", c->name,
                     b.format ? b.format : "B");
    }
    PyBuffer_Release(&b);
    return result;
}

/* ---- Arrow arrays ------------------------------------------------------------------------- */

static int arrow_is_null(const struct ArrowArray *a, int64_t i) {
    const uint8_t *validity = a->n_buffers > 0 ? a->buffers[0] : NULL;
    if (!validity || a->null_count == 0) return 0;
    int64_t bit = a->offset + i;
    return !(validity[bit >> 3] & (1u << (bit & 7)));
}

/* Views of the `a->length` strings of one chunk, written at `views` (`row` = first row's index). */
static int arrow_chunk_views(StringColumn *c, const char *format, const struct ArrowArray *a,
                             rf_string_view *views, Py_ssize_t row) {
    int large = format[0] == 'U' || format[0] == 'Z';
    int view_layout = format[0] == 'v';
    if (a->n_buffers < (view_layout ? 2 : 3)) {
        PyErr_Format(PyExc_ValueError, "%s: malformed Arrow array (%lld buffers)", c->name, (long long)a->n_buffers);
        return -1;
    }
    for (int64_t i = 0; i < a->length; i++) {
        if (arrow_is_null(a, i)) {
            PyErr_Format(PyExc_ValueError, "%s[%zd]: null value; expected a string", c->name, row + (Py_ssize_t)i);
            return -1;
        }
        int64_t k = a->offset + i;
        if (view_layout) {
            /* 16-byte views: int32 length, then 12 inline bytes, or a 4-byte prefix, an int32
             * buffer index (into buffers[2...]) and an int32 offset. */
            const char *view = (const char *)a->buffers[1] + 16 * k;
            int32_t length, index, offset;
            memcpy(&length, view, 4);
            if (length <= 12) {
                views[i].data = view + 4;
            } else {
                memcpy(&index, view + 8, 4);
                memcpy(&offset, view + 12, 4);
                if (index < 0 || 2 + (int64_t)index >= a->n_buffers - 1 || offset < 0) {
                    PyErr_Format(PyExc_ValueError, "%s[%zd]: malformed Arrow string view", c->name, row + (Py_ssize_t)i);
                    return -1;
                }
                views[i].data = (const char *)a->buffers[2 + index] + offset;
            }
            views[i].length = length;
        } else if (large) {
            const int64_t *offsets = a->buffers[1];
            views[i].data = (const char *)a->buffers[2] + offsets[k];
            views[i].length = offsets[k + 1] - offsets[k];
        } else {
            const int32_t *offsets = a->buffers[1];
            views[i].data = (const char *)a->buffers[2] + offsets[k];
            views[i].length = offsets[k + 1] - offsets[k];
        }
        if (views[i].length < 0) {
            PyErr_Format(PyExc_ValueError, "%s[%zd]: malformed Arrow offsets", c->name, row + (Py_ssize_t)i);
            return -1;
        }
    }
    return 0;
}

static int arrow_format_is_string(const char *format) {
    return strcmp(format, "u") == 0 || strcmp(format, "U") == 0 || strcmp(format, "z") == 0 ||
           strcmp(format, "Z") == 0 || strcmp(format, "vu") == 0 || strcmp(format, "vz") == 0;
}

static int arrow_check_format(StringColumn *c, const char *format) {
    if (arrow_format_is_string(format)) return 0;
    PyErr_Format(PyExc_TypeError,
                 "%s: expected an Arrow string or binary array, got Arrow format '%s'%s", c->name, format,
                 format[0] == '+' || strchr("cCsSiIlL", format[0]) ? " (decode dictionaries and nested types first)" : "");
    return -1;
}

/* `obj.__arrow_c_array__()`: one array. A `large_string` without nulls is passed as Arrow's own
 * offsets and data; the others as views. */
static int arrow_array_column(StringColumn *c, PyObject *object, Py_ssize_t count) {
    PyObject *pair = PyObject_CallMethod(object, "__arrow_c_array__", NULL);
    if (!pair) return -1;
    int result = -1;
    PyObject *schema_capsule = NULL, *array_capsule = NULL;
    if (!PyTuple_Check(pair) || PyTuple_Size(pair) != 2) {
        PyErr_Format(PyExc_TypeError, "%s: __arrow_c_array__ did not return a (schema, array) pair", c->name);
        goto done;
    }
    schema_capsule = PyTuple_GetItem(pair, 0);
    array_capsule = PyTuple_GetItem(pair, 1);
    struct ArrowSchema *schema = PyCapsule_GetPointer(schema_capsule, "arrow_schema");
    struct ArrowArray *array = schema ? PyCapsule_GetPointer(array_capsule, "arrow_array") : NULL;
    if (!array || arrow_check_format(c, schema->format) < 0) goto done;
    if (array->length != count) {
        PyErr_Format(PyExc_ValueError, "%s: %lld values for %zd rows", c->name, (long long)array->length, count);
        goto done;
    }
    if (hold(c, pair) < 0) goto done; /* the capsules release the array when freed */
    if (strcmp(schema->format, "U") == 0 && array->null_count == 0 && array->n_buffers >= 3) {
        c->column.layout = RF_STRINGS_OFFSETS;
        c->column.offsets = (const int64_t *)array->buffers[1] + array->offset;
        c->column.data = array->buffers[2];
        result = 0;
    } else {
        rf_string_view *views = allocate_views(c, count);
        result = views ? arrow_chunk_views(c, schema->format, array, views, 0) : -1;
    }
done:
    Py_DECREF(pair);
    return result;
}

/* `obj.__arrow_c_stream__()`: chunks (a ChunkedArray, a polars Series) concatenated as views. */
static int arrow_stream_column(StringColumn *c, PyObject *object, Py_ssize_t count) {
    PyObject *capsule = PyObject_CallMethod(object, "__arrow_c_stream__", NULL);
    if (!capsule) return -1;
    int result = -1;
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    struct ArrowSchema schema = {0};
    if (!stream) goto done;
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: Arrow stream: %s", c->name, stream->get_last_error(stream));
        goto done;
    }
    if (arrow_check_format(c, schema.format) < 0) goto done;
    rf_string_view *views = allocate_views(c, count);
    if (!views) goto done;
    Py_ssize_t filled = 0, capacity = 0;
    for (;;) {
        if (c->array_count == capacity) {
            capacity = capacity ? 2 * capacity : 8;
            struct ArrowArray *grown = realloc(c->arrays, sizeof *grown * (size_t)capacity);
            if (!grown) { PyErr_NoMemory(); goto done; }
            c->arrays = grown;
        }
        struct ArrowArray *chunk = &c->arrays[c->array_count];
        memset(chunk, 0, sizeof *chunk);
        if (stream->get_next(stream, chunk) != 0) {
            PyErr_Format(PyExc_ValueError, "%s: Arrow stream: %s", c->name, stream->get_last_error(stream));
            goto done;
        }
        if (!chunk->release) break; /* end of stream */
        c->array_count++;
        if (chunk->length > count - filled) {
            PyErr_Format(PyExc_ValueError, "%s: more than %zd values for %zd rows", c->name, count, count);
            goto done;
        }
        if (arrow_chunk_views(c, schema.format, chunk, views + filled, filled) < 0) goto done;
        filled += (Py_ssize_t)chunk->length;
    }
    if (filled != count) {
        PyErr_Format(PyExc_ValueError, "%s: %zd values for %zd rows", c->name, filled, count);
        goto done;
    }
    result = 0;
done:
    if (schema.release) schema.release(&schema);
    Py_DECREF(capsule); /* releases the stream; the chunks we took stay ours until freed */
    return result;
}

/* ---- Dispatch ----------------------------------------------------------------------------- */

static PyObject *list_item(PyObject *list, Py_ssize_t i) { return PyList_GetItem(list, i); }
static PyObject *tuple_item(PyObject *tuple, Py_ssize_t i) { return PyTuple_GetItem(tuple, i); }

/* Reads `object` into `c` (None: the column is absent). `c` starts zeroed but for a views buffer
 * the workspace lent it; a sequence read through a list made here (pandas, ...) keeps that list
 * in `c->holders`. */
static int string_column(StringColumn *c, const char *name, PyObject *object, Py_ssize_t count) {
    c->name = name;
    c->column.layout = RF_STRINGS_NONE;
    if (object == Py_None) return 0;
    if (PyObject_HasAttrString(object, "__arrow_c_array__")) return arrow_array_column(c, object, count);
    if (PyObject_HasAttrString(object, "__arrow_c_stream__")) return arrow_stream_column(c, object, count);
    if (PyList_Check(object) || PyTuple_Check(object)) {
        Py_ssize_t n = PyList_Check(object) ? PyList_Size(object) : PyTuple_Size(object);
        if (n != count) {
            PyErr_Format(PyExc_ValueError, "%s: %zd values for %zd rows", name, n, count);
            return -1;
        }
        return objects_column(c, object, count, PyList_Check(object) ? list_item : tuple_item);
    }
    int result = buffer_column(c, object, count);
    if (result != 1) return result;
    PyObject *list = PySequence_List(object);
    if (!list) {
        PyErr_Clear();
        PyObject *type = PyType_GetName(Py_TYPE(object));
        PyErr_Format(PyExc_TypeError, "%s: expected a sequence of str or bytes, got %U", name, type);
        Py_XDECREF(type);
        return -1;
    }
    result = hold(c, list);
    Py_DECREF(list);
    return result < 0 ? -1 : string_column(c, name, list, count);
}

/* ---- Numbers ------------------------------------------------------------------------------ */

typedef struct {
    Py_buffer buffer;
    int held;
} NumberColumn;

/* A contiguous 1-D buffer of `count` items of `itemsize` bytes with format `format` (a
 * NumPy array the Python side made with the right dtype); None gives NULL. */
static int number_column(NumberColumn *n, const char *name, PyObject *object, Py_ssize_t count,
                         const char *formats, Py_ssize_t itemsize, int writable, const void **out) {
    memset(n, 0, sizeof *n);
    *out = NULL;
    if (object == Py_None) return 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, &n->buffer, flags) < 0) return -1;
    n->held = 1;
    const char *format = n->buffer.format ? n->buffer.format : "B";
    if (*format == '<' || *format == '=' || *format == '@') format++;
    if (n->buffer.ndim != 1 || n->buffer.shape[0] != count) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd values in one dimension", name, count);
        return -1;
    }
    if (n->buffer.itemsize != itemsize || strlen(format) != 1 || !strchr(formats, format[0])) {
        PyErr_Format(PyExc_TypeError, "%s: internal: buffer of format '%s'", name, n->buffer.format);
        return -1;
    }
    *out = n->buffer.buf;
    return 0;
}

static void number_column_free(NumberColumn *n) {
    if (n->held) PyBuffer_Release(&n->buffer);
    n->held = 0;
}

/* ---- score -------------------------------------------------------------------------------- */

/* An option string: NULL for None. */
static int option_text(PyObject *object, const char **out) {
    *out = NULL;
    if (object == Py_None) return 0;
    *out = PyUnicode_AsUTF8AndSize(object, NULL);
    return *out ? 0 : -1;
}

PyDoc_STRVAR(score_doc,
"score(count, group, trajectory, step, state, state_key, reward, active, noop, action, options, outputs,\n"
"      phases=None)\n"
"--\n\n"
"Appends `count` rows to a fresh batch and scores it (the engine of `rewardflow_engine.score`,\n"
"which normalises the arguments first). Strings: list, tuple, NumPy O/S/U array, Arrow array\n"
"or stream, or None (absent). Numbers: int64 step, float64 reward, uint64 state_key, uint8\n"
"active/noop buffers or None. options: (operator, gamma, alpha, solver, tolerance,\n"
"max_iterations, node_reward, advantage, step_weight, similarity, step_group_similarity (0 = off),\n"
"goal_reward, step_reward, episode_weight, episode_weighting, step_group_history).\n"
"outputs: six writable float64 buffers\n"
"or None, in the order of rf_outputs; or None for the batch statistics instead of scores.\n"
"Returns None (scores) or the statistics' JSON text, or (status, message) when the engine\n"
"refuses the rows or the options. `phases`, a list, receives the call's monotonic seconds in\n"
"three phases: reading the columns (views, conversions), rf_batch_append_columns, and\n"
"rf_score (or rf_statistics_json); for benchmarks (scripts/bench_python.py --phases).");

/* Monotonic seconds (CLOCK_MONOTONIC), for the phases of `score`. */
static double monotonic_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- The workspace kept between calls ---------------------------------------------------- */

/* One batch and the string columns' view buffers outlive a call, so a trainer that scores a
 * batch of about the same size every step touches no new memory for them (`rf_batch_clear`
 * keeps a batch's storage). A call takes them out of the module's state and puts them back at
 * its end, both with the GIL held; a call running meanwhile on another thread finds the slot
 * empty and allocates its own. A call with fewer than a quarter of the rows they were last used
 * for frees them first (a table sized for 4x the strings costs cache misses to probe and time
 * to clear). `release_memory()` frees them. */
typedef struct {
    rf_batch *batch;              /* cleared; NULL when taken or never made */
    size_t rows;                  /* the row count of the call that last used it */
    rf_string_view *views[4];     /* one buffer per string column */
    size_t views_capacity[4];
} Workspace;

static void workspace_free(Workspace *w) {
    rf_batch_destroy(w->batch);
    for (int k = 0; k < 4; k++) free(w->views[k]);
    memset(w, 0, sizeof *w);
}

/* The module's workspace, moved into `*taken` (the module's slot is left empty). */
static void workspace_take(PyObject *module, Py_ssize_t count, Workspace *taken) {
    Workspace *w = PyModule_GetState(module);
    memset(taken, 0, sizeof *taken);
    if (!w) return;
    if ((size_t)count < w->rows / 4) workspace_free(w);
    *taken = *w;
    memset(w, 0, sizeof *w);
}

/* Puts `*used` back into the module's slot when it is empty (else frees it). */
static void workspace_return(PyObject *module, Workspace *used) {
    Workspace *w = PyModule_GetState(module);
    if (used->batch && rf_batch_clear(used->batch) != RF_OK) {
        rf_batch_destroy(used->batch);
        used->batch = NULL;
    }
    if (!w || w->batch || w->views[0] || w->views[1] || w->views[2] || w->views[3]) {
        workspace_free(used);
        return;
    }
    *w = *used;
    memset(used, 0, sizeof *used);
}

PyDoc_STRVAR(release_memory_doc,
"release_memory()\n--\n\n"
"Frees the storage score() keeps between calls (the last call's batch and string views).");

static PyObject *release_memory(PyObject *module, PyObject *unused) {
    (void)unused;
    Workspace *w = PyModule_GetState(module);
    if (w) workspace_free(w);
    Py_RETURN_NONE;
}

static PyObject *score(PyObject *module, PyObject *args) {
    Py_ssize_t count;
    PyObject *group, *trajectory, *step, *state, *state_key, *reward, *active, *noop, *action, *options, *outputs;
    PyObject *phases = Py_None;
    if (!PyArg_ParseTuple(args, "nOOOOOOOOOO!O|O:score", &count, &group, &trajectory, &step, &state, &state_key,
                          &reward, &active, &noop, &action, &PyTuple_Type, &options, &outputs, &phases))
        return NULL;
    if (phases != Py_None && !PyList_Check(phases)) return PyErr_Format(PyExc_TypeError, "phases: expected a list or None");
    double started = monotonic_seconds();
    int statistics = outputs == Py_None;
    if (!statistics && !PyTuple_Check(outputs)) return PyErr_Format(PyExc_TypeError, "outputs: expected a tuple or None");
    if (count < 0) return PyErr_Format(PyExc_ValueError, "count: negative (%zd)", count);

    PyObject *result = NULL;
    StringColumn strings[4];
    memset(strings, 0, sizeof strings);
    enum { STEP, REWARD, KEY, ACTIVE, NOOP, OUT0 };
    NumberColumn numbers[OUT0 + 6];
    memset(numbers, 0, sizeof numbers);
    const void *pointers[OUT0 + 6];

    const char *operator_name, *solver, *node_reward, *advantage;
    double gamma, alpha, tolerance, step_weight, similarity, step_group_similarity, goal_reward, episode_weight;
    long long step_group_history;
    const char *step_reward, *episode_weighting;
    PyObject *step_reward_object, *episode_weighting_object;
    long long max_iterations;
    PyObject *operator_object, *solver_object, *node_reward_object, *advantage_object;
    if (!PyArg_ParseTuple(options, "OddOdLOOddddOdOL:options", &operator_object, &gamma, &alpha, &solver_object,
                          &tolerance, &max_iterations, &node_reward_object, &advantage_object, &step_weight,
                          &similarity, &step_group_similarity, &goal_reward, &step_reward_object,
                          &episode_weight, &episode_weighting_object, &step_group_history))
        return NULL;
    if (option_text(operator_object, &operator_name) < 0 || option_text(solver_object, &solver) < 0 ||
        option_text(node_reward_object, &node_reward) < 0 || option_text(advantage_object, &advantage) < 0 ||
        option_text(step_reward_object, &step_reward) < 0 || option_text(episode_weighting_object, &episode_weighting) < 0)
        return NULL;
    if (!statistics && PyTuple_Size(outputs) != 6) return PyErr_Format(PyExc_ValueError, "outputs: expected 6 entries");

    /* From here on every exit goes through `done`, which returns the workspace. */
    Workspace workspace;
    workspace_take(module, count, &workspace);
    for (int k = 0; k < 4; k++) {
        strings[k].views = workspace.views[k];
        strings[k].views_capacity = workspace.views_capacity[k];
        workspace.views[k] = NULL;
    }
    rf_batch *batch = workspace.batch;
    workspace.batch = NULL;
    if (string_column(&strings[0], "group", group, count) < 0 ||
        string_column(&strings[1], "trajectory", trajectory, count) < 0 ||
        string_column(&strings[2], "state", state, count) < 0 ||
        string_column(&strings[3], "action", action, count) < 0)
        goto done;
    if (strings[0].column.layout == RF_STRINGS_NONE || strings[1].column.layout == RF_STRINGS_NONE) {
        PyErr_SetString(PyExc_TypeError, "group and trajectory are required");
        goto done;
    }
    if (number_column(&numbers[STEP], "step", step, count, "lq", 8, 0, &pointers[STEP]) < 0 ||
        number_column(&numbers[REWARD], "reward", reward, count, "d", 8, 0, &pointers[REWARD]) < 0 ||
        number_column(&numbers[KEY], "state", state_key, count, "LQ", 8, 0, &pointers[KEY]) < 0 ||
        number_column(&numbers[ACTIVE], "active", active, count, "B?", 1, 0, &pointers[ACTIVE]) < 0 ||
        number_column(&numbers[NOOP], "noop", noop, count, "B?", 1, 0, &pointers[NOOP]) < 0)
        goto done;
    for (int k = 0; k < 6; k++)
        if (statistics) pointers[OUT0 + k] = NULL;
        else if (number_column(&numbers[OUT0 + k], "outputs", PyTuple_GetItem(outputs, k), count, "d", 8, 1,
                          &pointers[OUT0 + k]) < 0)
            goto done;

    rf_columns columns = {
        .count = (size_t)count,
        .group = strings[0].column, .trajectory = strings[1].column,
        .state = strings[2].column, .action = strings[3].column,
        .state_key = pointers[KEY], .step = pointers[STEP], .reward = pointers[REWARD],
        .active = pointers[ACTIVE], .noop = pointers[NOOP],
    };
    rf_options engine_options;
    rf_options_init(&engine_options);
    if (operator_name) engine_options.operator_name = operator_name;
    if (solver) engine_options.solver = solver;
    if (node_reward) engine_options.node_reward = node_reward;
    engine_options.advantage = advantage;
    engine_options.gamma = gamma;
    engine_options.alpha = alpha;
    engine_options.tolerance = tolerance;
    engine_options.max_iterations = max_iterations;
    engine_options.step_weight = step_weight;
    engine_options.similarity = similarity;
    engine_options.step_group_similarity = step_group_similarity;
    engine_options.goal_reward = goal_reward;
    engine_options.step_reward = step_reward;
    engine_options.episode_weight = episode_weight;
    engine_options.episode_weighting = episode_weighting;
    engine_options.step_group_history = step_group_history;
    rf_outputs engine_outputs = {
        .capacity = (size_t)count,
        .value = (double *)pointers[OUT0], .step_reward = (double *)pointers[OUT0 + 1],
        .step_reward_abs = (double *)pointers[OUT0 + 2], .episode_advantage = (double *)pointers[OUT0 + 3],
        .step_advantage = (double *)pointers[OUT0 + 4], .advantage = (double *)pointers[OUT0 + 5],
    };

    int borrows = 0;
    for (int k = 0; k < 4; k++) borrows |= strings[k].borrows_objects;
    rf_status status;
    const char *message = "";
    double read = monotonic_seconds();
    PyThreadState *thread = borrows ? NULL : PyEval_SaveThread();
    status = batch ? RF_OK : rf_batch_create(&batch);
    if (status == RF_OK) status = rf_batch_append_columns(batch, &columns);
    if (thread == NULL) thread = PyEval_SaveThread();
    double appended = monotonic_seconds();
    char *json = NULL;
    if (status == RF_OK) {
        status = statistics ? rf_statistics_json(batch, &engine_options, &json)
                            : rf_score(batch, &engine_options, &engine_outputs);
    }
    if (status != RF_OK) message = rf_last_error();
    double scored = monotonic_seconds();
    PyEval_RestoreThread(thread);
    if (phases != Py_None) {
        double seconds[3] = {read - started, appended - read, scored - appended};
        for (int k = 0; k < 3; k++) {
            PyObject *value = PyFloat_FromDouble(seconds[k]);
            int failed = !value || PyList_Append(phases, value) < 0;
            Py_XDECREF(value);
            if (failed) { rf_free(json); goto done; }
        }
    }
    if (status != RF_OK) result = Py_BuildValue("(is)", (int)status, message);
    else result = statistics ? PyUnicode_FromString(json) : Py_NewRef(Py_None);
    rf_free(json);

done:
    workspace.batch = batch;
    workspace.rows = (size_t)(count > 0 ? count : 0);
    for (int k = 0; k < 4; k++) {
        workspace.views[k] = strings[k].views;
        workspace.views_capacity[k] = strings[k].views_capacity;
        strings[k].views = NULL;
        string_column_free(&strings[k]);
    }
    workspace_return(module, &workspace);
    for (int k = 0; k < OUT0 + 6; k++) number_column_free(&numbers[k]);
    return result;
}

/* ---- Trainer batches: lists of step dicts (rewardflow_engine.verl_agent) ------------------- */

/* Item `i` of a list or tuple (borrowed), or NULL with an exception naming `where`. */
static PyObject *sequence_item(PyObject *sequence, Py_ssize_t i) {
    return PyList_Check(sequence) ? PyList_GetItem(sequence, i) : PyTuple_GetItem(sequence, i);
}

static Py_ssize_t sequence_size(PyObject *sequence) {
    if (PyList_Check(sequence)) return PyList_Size(sequence);
    if (PyTuple_Check(sequence)) return PyTuple_Size(sequence);
    return -1;
}

/* Prefetches the objects held by list or tuple `sequence` (NULL or anything else: nothing).
 * The trainer passes walk thousands of dicts made long before (or just now by the env's
 * state_preprocess) that no longer sit in the core's cache: asking for sequence i + 1's dicts
 * while sequence i is read overlaps their memory latency. A hint only: prefetching never
 * faults and changes no result. */
static void prefetch_items(PyObject *sequence) {
    Py_ssize_t size = sequence ? sequence_size(sequence) : -1;
    for (Py_ssize_t j = 0; j < size; j++) {
        PyObject *item = sequence_item(sequence, j);
        if (item) __builtin_prefetch(item);
    }
}

/* `mapping[key]` as a new reference, or NULL: with no exception set when the key is missing
 * from a dict, else with the exception of the lookup. */
static PyObject *lookup(PyObject *mapping, PyObject *key) {
    if (PyDict_Check(mapping)) {
        PyObject *value = PyDict_GetItemWithError(mapping, key);
        return value ? Py_NewRef(value) : NULL;
    }
    return PyObject_GetItem(mapping, key);
}

PyDoc_STRVAR(gather_doc,
"gather(sequences, keys, name) -> (columns, lengths)\n"
"--\n\n"
"For a list of lists of dicts (`sequences[i][j]`), one flat list per key of `keys` holding\n"
"`sequences[i][j][key]` in row order, and the list of `len(sequences[i])`. A missing key or a\n"
"non-list raises ValueError naming `name[i][j]` and the key.");

static PyObject *gather_columns(PyObject *sequences, PyObject *keys, const char *name);

/* After `lookup(entry, key)` failed for `entry` = `name[i][j]`: a missing key or an entry that is
 * no mapping becomes a ValueError naming the entry; any other exception is left as it is. */
static void entry_error(const char *name, Py_ssize_t i, Py_ssize_t j, PyObject *key, PyObject *entry) {
    int missing = !PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_KeyError);
    if (!missing && !PyErr_ExceptionMatches(PyExc_TypeError)) return;
    PyErr_Clear();
    if (missing) {
        PyErr_Format(PyExc_ValueError, "%s[%zd][%zd]: %S: missing", name, i, j, key);
    } else {
        PyObject *type = PyType_GetName(Py_TYPE(entry));
        PyErr_Format(PyExc_ValueError, "%s[%zd][%zd]: expected a dict, got %U", name, i, j, type);
        Py_XDECREF(type);
    }
}

static PyObject *gather(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *sequences, *keys;
    const char *name;
    if (!PyArg_ParseTuple(args, "OO!s:gather", &sequences, &PyTuple_Type, &keys, &name)) return NULL;
    return gather_columns(sequences, keys, name);
}

/* gather's work: `keys` a tuple of str. */
static PyObject *gather_columns(PyObject *sequences, PyObject *keys, const char *name) {
    Py_ssize_t count = sequence_size(sequences), key_count = PyTuple_Size(keys);
    if (count < 0) return PyErr_Format(PyExc_ValueError, "%s: expected a list of lists", name);
    PyObject *columns = PyTuple_New(key_count), *lengths = PyList_New(count);
    if (!columns || !lengths) goto fail;
    for (Py_ssize_t k = 0; k < key_count; k++) {
        PyObject *column = PyList_New(0);
        if (!column) goto fail;
        PyTuple_SetItem(columns, k, column);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *sequence = sequence_item(sequences, i);
        Py_ssize_t length = sequence ? sequence_size(sequence) : -1;
        if (length < 0) {
            PyErr_Format(PyExc_ValueError, "%s[%zd]: expected a list", name, i);
            goto fail;
        }
        PyObject *size = PyLong_FromSsize_t(length);
        if (!size) goto fail;
        PyList_SetItem(lengths, i, size);
        for (Py_ssize_t j = 0; j < length; j++) {
            PyObject *entry = sequence_item(sequence, j);
            if (!entry) goto fail;
            for (Py_ssize_t k = 0; k < key_count; k++) {
                PyObject *key = PyTuple_GetItem(keys, k);
                PyObject *value = lookup(entry, key);
                if (!value) {
                    entry_error(name, i, j, key, entry);
                    goto fail;
                }
                int failed = PyList_Append(PyTuple_GetItem(columns, k), value);
                Py_DECREF(value);
                if (failed < 0) goto fail;
            }
        }
    }
    return Py_BuildValue("(NN)", columns, lengths);
fail:
    Py_XDECREF(columns);
    Py_XDECREF(lengths);
    return NULL;
}

PyDoc_STRVAR(gather_states_doc,
"gather_states(sequences, name) -> (states, rewards, lengths, all_text)\n"
"--\n\n"
"gather(sequences, ('state', 'reward'), name) for state sequences, with the rewards as the bytes\n"
"of a float64 array (None when one is no real number: the caller then reads them itself) and\n"
"whether every state is exactly a str.");

static PyObject *gather_states(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *sequences;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os:gather_states", &sequences, &name)) return NULL;
    Py_ssize_t count = sequence_size(sequences);
    if (count < 0) return PyErr_Format(PyExc_ValueError, "%s: expected a list of lists", name);
    /* One pass, each entry's objects touched once: the states, the rewards as doubles. */
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *sequence = sequence_item(sequences, i);
        Py_ssize_t length = sequence ? sequence_size(sequence) : -1;
        if (length < 0) return PyErr_Format(PyExc_ValueError, "%s[%zd]: expected a list", name, i);
        total += length;
    }
    PyObject *keys[2] = {PyUnicode_InternFromString("state"), PyUnicode_InternFromString("reward")};
    PyObject *states = PyList_New(total), *lengths = PyList_New(count);
    PyObject *buffer = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(double) * (total > 0 ? total : 1));
    PyObject *result = NULL;
    if (!keys[0] || !keys[1] || !states || !lengths || !buffer) goto done;
    double *rewards = (double *)PyBytes_AsString(buffer);
    int numbers = 1, all_text = 1;
    Py_ssize_t row = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *sequence = sequence_item(sequences, i);
        Py_ssize_t length = sequence_size(sequence);
        if (i + 1 < count) prefetch_items(sequence_item(sequences, i + 1));
        PyObject *size = PyLong_FromSsize_t(length);
        if (!size) goto done;
        PyList_SetItem(lengths, i, size);
        for (Py_ssize_t j = 0; j < length; j++, row++) {
            PyObject *entry = sequence_item(sequence, j);
            PyObject *values[2];
            for (int k = 0; k < 2; k++) {
                values[k] = lookup(entry, keys[k]);
                if (values[k]) continue;
                if (k == 1) Py_DECREF(values[0]);
                entry_error(name, i, j, keys[k], entry);
                goto done;
            }
            if (all_text && !PyUnicode_CheckExact(values[0])) all_text = 0;
            PyList_SetItem(states, row, values[0]);  /* steals the reference */
            if (numbers) {
                if (PyFloat_Check(values[1]) || PyLong_Check(values[1])) {
                    rewards[row] = PyFloat_AsDouble(values[1]);
                    if (rewards[row] == -1.0 && PyErr_Occurred()) { PyErr_Clear(); numbers = 0; }
                } else {
                    numbers = 0;
                }
            }
            Py_DECREF(values[1]);
        }
    }
    if (!numbers || total == 0) {
        Py_DECREF(buffer);
        buffer = numbers ? PyBytes_FromStringAndSize(NULL, 0) : Py_NewRef(Py_None);
    }
    if (buffer) result = Py_BuildValue("(OOOO)", states, buffer, lengths, all_text ? Py_True : Py_False);
done:
    Py_XDECREF(keys[0]);
    Py_XDECREF(keys[1]);
    Py_XDECREF(states);
    Py_XDECREF(lengths);
    Py_XDECREF(buffer);
    return result;
}

/* A contiguous 1-D buffer of `count` items of `itemsize` bytes, for the helpers below. */
static int plain_buffer(PyObject *object, Py_buffer *b, Py_ssize_t itemsize, Py_ssize_t count, const char *name) {
    if (PyObject_GetBuffer(object, b, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (b->itemsize != itemsize || b->len != itemsize * count) {
        PyBuffer_Release(b);
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes", name, count, itemsize);
        return -1;
    }
    return 0;
}

/* Writes trajectory `traj`'s step rewards when its steps 0..k are its own state entries
 * (k = min(first inactive step, len - 1)); returns 1 when written, 0 when the trajectory
 * needs the exact path (clearing any lookup error), -1 on a Python error that must surface. */
static int write_trajectory(PyObject *traj, PyObject *states, Py_ssize_t base, Py_ssize_t length,
                            const double *step_rewards, const double *values, PyObject *const names[5]) {
    enum { ACTIVE, ANCHOR, REWARDS, STEP_REWARDS, STEP_REWARDS_ABS };
    Py_ssize_t steps = sequence_size(traj);
    if (steps <= 0) return 0;
    Py_ssize_t last = steps - 1, k = last;
    for (Py_ssize_t j = 0; j < last; j++) {
        PyObject *active = lookup(sequence_item(traj, j), names[ACTIVE]);
        if (!active) goto fallback;
        int truth = PyObject_IsTrue(active);
        Py_DECREF(active);
        if (truth < 0) goto fallback;
        if (!truth) { k = j; break; }
    }
    if (k >= length) return 0;
    for (Py_ssize_t j = 0; j <= k; j++) {
        PyObject *anchor = lookup(sequence_item(traj, j), names[ANCHOR]);
        if (!anchor) goto fallback;
        PyObject *state = PyList_GetItem(states, base + j);
        int same = anchor == state ? 1 : PyObject_RichCompareBool(anchor, state, Py_EQ);
        Py_DECREF(anchor);
        if (same < 0) goto fallback;
        if (!same) return 0;
    }
    for (Py_ssize_t j = 0; j < steps; j++) {
        PyObject *step = sequence_item(traj, j);
        PyObject *reward, *reward_abs;
        if (j < k) {
            reward = PyFloat_FromDouble(step_rewards[base + j]);
            reward_abs = PyFloat_FromDouble(values[base + j + 1]);
        } else {
            reward = lookup(step, names[REWARDS]);
            if (!reward) goto fallback;
            reward_abs = Py_NewRef(reward);
        }
        int failed = !reward || !reward_abs;
        if (!failed && PyDict_CheckExact(step))
            failed = PyDict_SetItem(step, names[STEP_REWARDS], reward) < 0 ||
                     PyDict_SetItem(step, names[STEP_REWARDS_ABS], reward_abs) < 0;
        else if (!failed)
            failed = PyObject_SetItem(step, names[STEP_REWARDS], reward) < 0 ||
                     PyObject_SetItem(step, names[STEP_REWARDS_ABS], reward_abs) < 0;
        Py_XDECREF(reward);
        Py_XDECREF(reward_abs);
        if (failed) goto fallback;
    }
    return 1;
fallback:
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_KeyError) &&
        !PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_ValueError) &&
        !PyErr_ExceptionMatches(PyExc_IndexError))
        return -1;
    PyErr_Clear();
    return 0;
}

PyDoc_STRVAR(write_step_rewards_doc,
"write_step_rewards(trajectories, states, starts, lengths, step_rewards, values) -> list\n"
"--\n\n"
"The fast path of verl_agent.apply_rewardflow_propagation: for each trajectory i (a list of\n"
"step dicts) whose steps 0..k (k = min(first inactive step, len - 1)) have as `anchor_obs`\n"
"their own state entries `states[starts[i] + j]` (the same object or an equal one), sets\n"
"`step_rewards` = step_rewards[starts[i] + j] and `step_rewards_abs` = values[starts[i] + j + 1]\n"
"for j < k, and both to the step's `rewards` from k on. starts, lengths: int64 buffers (one\n"
"per trajectory); step_rewards, values: float64 buffers (one per state entry). Returns the\n"
"indices of the trajectories left for the exact path (lookup failures included).");

static PyObject *write_step_rewards(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *trajectories, *states, *starts_object, *lengths_object, *rewards_object, *values_object;
    if (!PyArg_ParseTuple(args, "OO!OOOO:write_step_rewards", &trajectories, &PyList_Type, &states,
                          &starts_object, &lengths_object, &rewards_object, &values_object))
        return NULL;
    Py_ssize_t count = sequence_size(trajectories), rows = PyList_Size(states);
    if (count < 0) return PyErr_Format(PyExc_TypeError, "trajectories: expected a list");
    Py_buffer starts, lengths, rewards, values;
    if (plain_buffer(starts_object, &starts, 8, count, "starts") < 0) return NULL;
    if (plain_buffer(lengths_object, &lengths, 8, count, "lengths") < 0) { PyBuffer_Release(&starts); return NULL; }
    if (plain_buffer(rewards_object, &rewards, 8, rows, "step_rewards") < 0) {
        PyBuffer_Release(&starts); PyBuffer_Release(&lengths); return NULL;
    }
    if (plain_buffer(values_object, &values, 8, rows, "values") < 0) {
        PyBuffer_Release(&starts); PyBuffer_Release(&lengths); PyBuffer_Release(&rewards); return NULL;
    }
    PyObject *names[5] = {
        PyUnicode_InternFromString("active_masks"), PyUnicode_InternFromString("anchor_obs"), PyUnicode_InternFromString("rewards"),
        PyUnicode_InternFromString("step_rewards"), PyUnicode_InternFromString("step_rewards_abs"),
    };
    PyObject *exact = PyList_New(0);
    for (int k = 0; k < 5; k++) if (!names[k]) Py_CLEAR(exact);
    const int64_t *start = starts.buf, *length = lengths.buf;
    for (Py_ssize_t i = 0; exact && i < count; i++) {
        if (i + 1 < count) prefetch_items(sequence_item(trajectories, i + 1));
        /* Entries beyond the states list would be out of bounds: such a trajectory is exact. */
        int written = 0;
        if (start[i] >= 0 && length[i] >= 0 && start[i] + length[i] <= rows)
            written = write_trajectory(sequence_item(trajectories, i), states, (Py_ssize_t)start[i],
                                       (Py_ssize_t)length[i], rewards.buf, values.buf, names);
        if (written < 0) { Py_CLEAR(exact); break; }
        if (!written) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (!index || PyList_Append(exact, index) < 0) Py_CLEAR(exact);
            Py_XDECREF(index);
        }
    }
    for (int k = 0; k < 5; k++) Py_XDECREF(names[k]);
    PyBuffer_Release(&starts); PyBuffer_Release(&lengths); PyBuffer_Release(&rewards); PyBuffer_Release(&values);
    return exact;
}

static PyObject *version(PyObject *module, PyObject *unused) {
    (void)module; (void)unused;
    return PyUnicode_FromString(rf_version());
}

static PyObject *abi_version(PyObject *module, PyObject *unused) {
    (void)module; (void)unused;
    return PyLong_FromLong(rf_abi_version());
}

static PyObject *operators(PyObject *module, PyObject *unused) {
    (void)module; (void)unused;
    return PyUnicode_FromString(rf_operators());
}

static PyMethodDef methods[] = {
    {"score", score, METH_VARARGS, score_doc},
    {"release_memory", release_memory, METH_NOARGS, release_memory_doc},
    {"gather", gather, METH_VARARGS, gather_doc},
    {"gather_states", gather_states, METH_VARARGS, gather_states_doc},
    {"write_step_rewards", write_step_rewards, METH_VARARGS, write_step_rewards_doc},
    {"version", version, METH_NOARGS, "The engine's version, \"MAJOR.MINOR.PATCH\"."},
    {"abi_version", abi_version, METH_NOARGS, "The engine's RF_ABI_VERSION."},
    {"operators", operators, METH_NOARGS, "The engine's operators, comma-separated."},
    {NULL, NULL, 0, NULL},
};

static int exec_module(PyObject *module) {
    if (rf_abi_version() != RF_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError, "librewardflow has C ABI version %d, this module was built for %d",
                     (int)rf_abi_version(), RF_ABI_VERSION);
        return -1;
    }
    if (PyModule_AddIntConstant(module, "ABI_VERSION", RF_ABI_VERSION) < 0) return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static void free_module(void *module) {
    Workspace *w = PyModule_GetState((PyObject *)module);
    if (w) workspace_free(w);
}

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_core", "The native core of rewardflow_engine (see its score).", sizeof(Workspace),
    methods, slots, NULL, NULL, free_module,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&definition); }
