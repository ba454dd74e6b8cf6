#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate the shim's driver API surface from the CUDA toolkit.

Inputs (all from --cuda-home):
  lib64/stubs/libcuda.so      the names the real driver exports (ELF .dynsym)
  include/cuda.h              prototypes, preprocessed with
                              -D__CUDA_API_VERSION_INTERNAL so that every
                              exported name (legacy, _vN, _ptds, _ptsz) is
                              declared under its own name
  include/cudaProfiler.h      the three cuProfiler* prototypes
  include/cudaTypedefs.h,
  include/cudaProfilerTypedefs.h
                              PFN_<api>_v<version>[_ptds|_ptsz] typedefs: the
                              ABI of each (api, version, variant) that
                              cuGetProcAddress hands out
  include/generated_cuda_meta.h
                              <name>_params structs, cross-checked against
                              the prototypes (when the header is there)

Outputs (in --out):
  driver_api.h        cuda.h with its renaming macros undone, the legacy types
                      the prototypes need, and every exported symbol declared
                      under its exported name with default visibility
  driver_stubs.c      a weak definition of every exported symbol returning
                      vgpu_unsupported("<name>")
  procaddr_table.c    (api, version, per-thread?) -> exported symbol, sorted
                      for binary search by guest-shim/procaddr.c

The PFN -> symbol mapping compares the canonical parameter types of the PFN
typedef with those of every exported symbol of the same API name, so a
version selects the symbol with that ABI.  Where several symbols share an
ABI (cuCtxCreate and cuCtxCreate_v2), versions and symbols are paired in
order; those pairings are reported.  Anything that cannot be mapped, and any
exported name without a prototype, is an error: the script exits non-zero.
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import defaultdict, namedtuple

HEADERS = ("cuda.h", "cudaProfiler.h")
TYPEDEF_HEADERS = ("cudaTypedefs.h", "cudaProfilerTypedefs.h")
# CUPTI's argument structs: a second, independent spelling of each prototype.
META_HEADER = "generated_cuda_meta.h"

PER_THREAD_SUFFIXES = ("_ptds", "_ptsz")

INT_WORDS = {"signed", "unsigned", "short", "long", "int", "char"}
QUALIFIERS = {"const", "volatile", "restrict", "__restrict", "__restrict__"}
KEYWORDS = INT_WORDS | QUALIFIERS | {
    "void", "float", "double", "_Bool", "struct", "union", "enum",
}

TOKEN_RE = re.compile(r"[A-Za-z_]\w*|\d+|\.\.\.|\S")
IDENT_RE = re.compile(r"[A-Za-z_]\w*$")
PFN_RE = re.compile(r"PFN_(\w+?)_v(\d+)(_ptds|_ptsz)?$")

Proto = namedtuple("Proto", "name ret params sig")
Pfn = namedtuple("Pfn", "typedef api version suffix sig")
Entry = namedtuple("Entry", "api version per_thread symbol")


class GenError(Exception):
    """A fact of the toolkit the generator cannot turn into correct code."""


def log(msg):
    """Print a diagnostic line on stderr (stdout stays empty)."""
    print("gen_driver_api: " + msg, file=sys.stderr)


# ---------------------------------------------------------------------------
# Exported names: the stub's ELF dynamic symbol table.

def read_exported_functions(path):
    """Return the sorted names of defined FUNC GLOBAL/WEAK symbols of @path."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise GenError(f"{path}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        shdr_fmt, sym_fmt = end + "IIQQQQIIQQ", end + "IBBHQQ"
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        shdr_fmt, sym_fmt = end + "IIIIIIIIII", end + "IIIBBH"
    sections = [struct.unpack_from(shdr_fmt, data, shoff + i * shentsize)
                for i in range(shnum)]
    names = set()
    for sh in sections:
        if sh[1] != 11:                 # SHT_DYNSYM
            continue
        offset, size, link, entsize = sh[4], sh[5], sh[6], sh[9]
        strtab = sections[link][4]
        for i in range(1, size // entsize):
            fields = struct.unpack_from(sym_fmt, data, offset + i * entsize)
            if is64:
                st_name, st_info, _, st_shndx = fields[:4]
            else:
                st_name, st_info, st_shndx = fields[0], fields[3], fields[5]
            bind, kind = st_info >> 4, st_info & 0xF
            if kind != 2 or bind not in (1, 2) or st_shndx == 0:
                continue                # FUNC, GLOBAL/WEAK, defined
            stop = data.index(b"\0", strtab + st_name)
            names.add(data[strtab + st_name:stop].decode("ascii"))
    if not names:
        raise GenError(f"{path}: no exported functions in .dynsym")
    return sorted(names)


def cross_check_with_nm(path, names):
    """Compare @names with what binutils' nm says, when nm is installed."""
    nm = shutil.which("nm")
    if not nm:
        return
    out = subprocess.run([nm, "-D", "--defined-only", path], check=True,
                         capture_output=True, text=True).stdout
    theirs = {line.split()[-1] for line in out.splitlines()
              if len(line.split()) == 3 and line.split()[1] in "TW"}
    if theirs != set(names):
        raise GenError(f"{path}: .dynsym reader and nm disagree: "
                       f"{sorted(theirs ^ set(names))}")


# ---------------------------------------------------------------------------
# The C preprocessor and top-level statements of its output.

def preprocess(cc, include_dir, headers, defines=(), macros_only=False,
               trailer=""):
    """Run the C preprocessor over a unit including @headers; return text."""
    src = "".join(f"#include <{h}>\n" for h in headers) + trailer
    cmd = [cc, "-E", "-std=c17", "-isystem", include_dir, "-x", "c", "-"]
    cmd += [f"-D{d}" for d in defines]
    if macros_only:
        cmd.append("-dM")
    res = subprocess.run(cmd, input=src, capture_output=True, text=True)
    if res.returncode != 0:
        raise GenError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return res.stdout


def toolkit_statements(text, include_dir):
    """Split preprocessed @text into top-level statements (declarations).

    Returns the statements that begin in a file under @include_dir, each with
    whitespace collapsed.  Statements end at a ';' outside brackets, or at
    the '}' closing a function body.
    """
    include_dir = os.path.realpath(include_dir)
    statements, cur, depth = [], [], 0
    cur_file = stmt_file = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = re.match(r'#\s*\d+\s+"([^"]*)"', line)
            if m:
                cur_file = m.group(1)
            continue
        for tok in re.findall(r"[(){}\[\];]|[^(){}\[\];]+", line):
            if not cur and not tok.strip():
                continue
            if not cur:
                stmt_file = cur_file
            cur.append(tok)
            if tok in "({[":
                depth += 1
            elif tok in ")}]":
                depth -= 1
            if depth:
                continue
            # A '{' right after ')' opens a function body, not a struct.
            body_end = tok == "}" and re.match(r"[^{]*\)\s*\{", "".join(cur))
            if tok == ";" or body_end:
                stmt = " ".join("".join(cur).split())
                real = os.path.realpath(stmt_file or "")
                if real.startswith(include_dir + os.sep):
                    statements.append(stmt)
                cur = []
        if cur:
            cur.append(" ")
    return statements


def split_top(text, sep=","):
    """Split @text at @sep outside brackets."""
    parts, cur, depth = [], [], 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def matching_paren(text, start):
    """Index of the bracket closing the one at @start."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    raise GenError(f"unbalanced brackets in: {text}")


# ---------------------------------------------------------------------------
# Types: typedef resolution so that CUdevice_v1, CUdevice and int compare
# equal, and CUdeviceptr_v1 (unsigned int) differs from CUdeviceptr.

class TypeTable:
    """Typedef names of a preprocessed unit and their canonical types."""

    def __init__(self, statements):
        self.canon = {}         # typedef name -> canonical token tuple
        self.text = {}          # typedef name -> the statement defining it
        self.order = {}         # typedef name -> position in the unit
        for pos, stmt in enumerate(statements):
            if stmt.startswith("typedef "):
                self._add(stmt[len("typedef "):].rstrip(";").strip(),
                          stmt, pos)

    def _add(self, body, stmt, pos):
        m = re.match(r"(struct|union|enum)\s*(\w*)\s*\{", body)
        if m:
            close = matching_paren(body, m.end() - 1)
            tag = m.group(2)
            declarators = split_top(body[close + 1:])
            base = (m.group(1), tag or "anon:" + declarators[0].strip("* "))
        elif "(" in body:
            # Function pointer (or function) typedef: opaque by name.
            name = re.search(r"\(\s*\*\s*(\w+)\s*\)", body) or \
                re.search(r"(\w+)\s*\(", body)
            self._set(name.group(1), ("typedef:" + name.group(1),), stmt, pos)
            return
        else:
            # 'typedef T *A, B;': T, then the first declarator's stars/name.
            parts = split_top(body)
            first = TOKEN_RE.findall(parts[0])
            start = len(first) - 1
            if "[" in first:
                start = first.index("[") - 1
            while start > 0 and first[start - 1] == "*":
                start -= 1
            base = tuple(self.canonical(first[:start]))
            declarators = [" ".join(first[start:])] + parts[1:]
        for decl in declarators:
            toks = TOKEN_RE.findall(decl)
            if not toks:
                continue
            if "[" in toks:
                # An array type: opaque by name.
                name = toks[toks.index("[") - 1]
                self._set(name, ("typedef:" + name,), stmt, pos)
            elif IDENT_RE.match(toks[-1]):
                stars = tuple(t for t in toks if t == "*")
                self._set(toks[-1], tuple(base) + stars, stmt, pos)

    def _set(self, name, canon, stmt, pos):
        self.canon[name] = canon
        self.text.setdefault(name, stmt)
        self.order.setdefault(name, pos)

    def canonical(self, toks):
        """Canonical token list of the type spelled by @toks."""
        out = []
        for t in toks:
            if t in self.canon:
                out.extend(self.canon[t])
            else:
                out.append(t)
        return normalise_type(out)


def normalise_type(toks):
    """Spell integer types one way and qualifiers in a fixed place.

    Each pointer level keeps its qualifiers (sorted) in front of it, so
    'char const *' and 'const char *' agree.
    """
    levels, cur = [], []
    for t in list(toks) + ["*"]:
        if t != "*":
            cur.append(t)
            continue
        quals = sorted(q for q in cur if q in QUALIFIERS)
        rest = [q for q in cur if q not in QUALIFIERS]
        words = [w for w in rest if w in INT_WORDS]
        if words:
            rest = [w for w in rest if w not in INT_WORDS]
            rest.insert(0, integer_name(words))
        levels.append(quals + rest)
        cur = []
    out = []
    for i, level in enumerate(levels):
        if i:
            out.append("*")
        out.extend(level)
    return out


def integer_name(words):
    """'unsigned' -> 'unsigned int', 'long long int' -> 'long long', ..."""
    unsigned = "unsigned" in words
    longs = words.count("long")
    if "char" in words:
        base = "char"
        sign = "unsigned " if unsigned else ("signed " if "signed" in words
                                             else "")
        return sign + base
    base = {0: "short" if "short" in words else "int", 1: "long",
            2: "long long"}[longs]
    return ("unsigned " if unsigned else "") + base


def param_signature(types, param):
    """Canonical type of one parameter declaration (its name dropped)."""
    toks = TOKEN_RE.findall(param)
    if "(" in toks:
        # A function pointer parameter: drop the name inside '(*name)'.
        i = toks.index("(")
        if toks[i + 1:i + 2] == ["*"] and IDENT_RE.match(toks[i + 2]):
            toks = toks[:i + 2] + toks[i + 3:]
        return " ".join(types.canonical(toks))
    if "[" in toks:
        toks = toks[:toks.index("[")] + ["*"]
    if len(toks) > 1 and param_name(types, toks):
        toks = toks[:-1]
    canon = types.canonical(toks)
    # A top-level qualifier does not change the ABI: 'const int x' == 'int'.
    last_star = max((i for i, t in enumerate(canon) if t == "*"), default=-1)
    return " ".join(t for i, t in enumerate(canon)
                    if i < last_star or t not in QUALIFIERS)


def param_name(types, toks):
    """The declared name among @toks (a parameter), or None if unnamed."""
    last = toks[-1]
    if not IDENT_RE.match(last) or last in KEYWORDS or last in types.canon:
        return None
    if len(toks) > 1 and toks[-2] in ("struct", "union", "enum"):
        return None
    return last


def signature(types, ret, params):
    """Canonical (return type, parameter types) of a function."""
    if params == ["void"] or params == [""]:
        params = []
    return (" ".join(types.canonical(TOKEN_RE.findall(ret))),
            tuple(param_signature(types, p) for p in params))


# ---------------------------------------------------------------------------
# Prototypes and PFN typedefs.

def parse_prototypes(statements, types):
    """Function declarations among @statements, by name."""
    protos = {}
    for stmt in statements:
        if stmt.startswith("typedef") or "{" in stmt:
            continue
        m = re.match(r"(?:extern\s+)?([\w\s\*]+?)\s*\b(cu\w+)\s*\(", stmt)
        if not m:
            continue
        close = matching_paren(stmt, m.end() - 1)
        if stmt[close + 1:].strip() != ";":
            continue
        ret, name = " ".join(m.group(1).split()), m.group(2)
        params = split_top(stmt[m.end():close])
        proto = Proto(name, ret, params, signature(types, ret, params))
        if name in protos and protos[name].sig != proto.sig:
            raise GenError(f"{name} is declared twice with different types:\n"
                           f"  {protos[name]}\n  {proto}")
        protos.setdefault(name, proto)
    return protos


def parse_pfns(statements, types):
    """The PFN_<api>_v<version>[_ptds|_ptsz] typedefs among @statements."""
    pfns = []
    for stmt in statements:
        m = re.match(r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(PFN_\w+)\s*\)\s*\(",
                     stmt)
        if not m:
            continue
        name = PFN_RE.match(m.group(2))
        if not name:
            raise GenError(f"unexpected PFN typedef name: {m.group(2)}")
        close = matching_paren(stmt, m.end() - 1)
        params = split_top(stmt[m.end():close])
        pfns.append(Pfn(m.group(2), name.group(1), int(name.group(2)),
                        name.group(3) or "",
                        signature(types, m.group(1), params)))
    return pfns


def parse_params_structs(statements, types):
    """Canonical member types of each <name>_params struct, by <name>."""
    structs = {}
    for stmt in statements:
        m = re.match(r"typedef struct (\w+)_params_st \{(.*)\}\s*\1_params",
                     stmt)
        if m:
            members = [d.strip() for d in m.group(2).split(";") if d.strip()]
            structs[m.group(1)] = tuple(param_signature(types, d)
                                        for d in members)
    return structs


def api_of(symbol):
    """(api name, per-thread suffix) of an exported symbol."""
    suffix = ""
    for s in PER_THREAD_SUFFIXES:
        if symbol.endswith(s):
            symbol, suffix = symbol[:-len(s)], s
    return re.sub(r"_v\d+$", "", symbol), suffix


def symbol_order(symbol):
    """Sort key of same-ABI symbols: cuX < cuX_v2 < cuX_v3."""
    base = symbol
    for s in PER_THREAD_SUFFIXES:
        if base.endswith(s):
            base = base[:-len(s)]
    m = re.search(r"_v(\d+)$", base)
    return (int(m.group(1)) if m else 1, symbol)


def map_pfns(pfns, protos, exported):
    """Map each PFN typedef to the exported symbol with its ABI.

    The candidates for PFN_<api>_v<N>[_ptds|_ptsz] are the exported symbols
    <api>[_v<M>] with the same per-thread suffix; the one whose canonical
    signature equals the typedef's wins.  Returns (entries, notes).
    """
    by_api = defaultdict(list)
    for sym in exported:
        by_api[api_of(sym)].append(sym)
    groups = defaultdict(list)
    for pfn in pfns:
        groups[(pfn.api, pfn.suffix)].append(pfn)

    entries, notes, errors = [], [], []
    for (api, suffix), group in sorted(groups.items()):
        cands = by_api.get((api, suffix), [])
        by_sig = defaultdict(list)
        for sym in cands:
            by_sig[protos[sym].sig].append(sym)
        pfn_by_sig = defaultdict(list)
        for pfn in group:
            pfn_by_sig[pfn.sig].append(pfn)
        for sig, same in sorted(pfn_by_sig.items(),
                                key=lambda kv: kv[1][0].version):
            same.sort(key=lambda p: p.version)
            syms = sorted(by_sig.get(sig, []), key=symbol_order)
            names = ", ".join(p.typedef for p in same)
            if not syms:
                errors.append(f"{names}: no exported symbol of API {api}"
                              f"{suffix} has this ABI {sig}; candidates: "
                              + ", ".join(f"{s} {protos[s].sig}"
                                          for s in sorted(cands)))
                continue
            if len(syms) == 1:
                pairs = [(p, syms[0]) for p in same]
            elif len(syms) == len(same):
                pairs = list(zip(same, syms))
                notes.append(", ".join(f"{api}@{p.version} -> {s}"
                                       for p, s in pairs))
            else:
                errors.append(f"ambiguous: {names} all match {syms}")
                continue
            entries += [Entry(api, p.version, bool(suffix), s)
                        for p, s in pairs]
    if errors:
        raise GenError("PFN typedefs that map to no exported symbol:\n  "
                       + "\n  ".join(errors))
    entries.sort(key=lambda e: (e.api, e.per_thread, e.version))
    for a, b in zip(entries, entries[1:]):
        if a[:3] == b[:3]:
            raise GenError(f"two symbols for {a.api}@{a.version}: "
                           f"{a.symbol}, {b.symbol}")
    return entries, notes


# ---------------------------------------------------------------------------
# Macros of cuda.h that rename API names.

def renaming_macros(cc, include_dir, api_names):
    """API names that cuda.h #defines, and what each expands to.

    Returns {name: {expansion in normal mode, expansion in per-thread mode}}
    for every macro whose name is an API name in either mode.
    """
    modes = ((), ("CUDA_API_PER_THREAD_DEFAULT_STREAM",))
    found = defaultdict(set)
    for defines in modes:
        text = preprocess(cc, include_dir, HEADERS, defines, macros_only=True)
        names = sorted({m.group(1) for m in
                        re.finditer(r"^#define (\w+) ", text, re.M)}
                       & api_names)
        probe = "".join(f"vgpu_probe {n} vgpu_probe_end\n" for n in names)
        out = preprocess(cc, include_dir, HEADERS, defines, trailer=probe)
        out = " ".join(line for line in out.splitlines()
                       if not line.startswith("#"))
        expanded = re.findall(r"vgpu_probe\s+(\w+)\s+vgpu_probe_end", out)
        if len(expanded) != len(names):
            raise GenError("could not expand cuda.h's renaming macros")
        for name, exp in zip(names, expanded):
            found[name].add(exp)
    return found


# ---------------------------------------------------------------------------
# Output.

HEADER_NOTE = """/*
 * Generated by guest-shim/gen/gen_driver_api.py from the CUDA toolkit in
 * {cuda_home}.  Do not edit; do not commit.
 */
"""


def legacy_types(normal, internal, protos):
    """Typedef statements the prototypes need that normal-mode cuda.h lacks."""
    needed, todo = set(), []
    for proto in protos:
        for p in [proto.ret] + proto.params:
            todo += TOKEN_RE.findall(p)
    while todo:
        tok = todo.pop()
        if tok in needed or tok in normal.canon or tok not in internal.canon:
            continue
        needed.add(tok)
        todo += TOKEN_RE.findall(internal.text[tok])
    stmts = sorted({internal.text[n] for n in needed},
                   key=lambda s: min(internal.order[n] for n in needed
                                     if internal.text[n] == s))
    return [pretty_struct(s) for s in stmts]


def pretty_struct(stmt):
    """One member a line, so a generated struct stays readable."""
    if "{" not in stmt:
        return stmt
    head, rest = stmt.split("{", 1)
    body, tail = rest.rsplit("}", 1)
    members = [m.strip() for m in body.split(";") if m.strip()]
    return (head.rstrip() + " {\n" + "".join(f"\t{m};\n" for m in members)
            + "}" + tail)


def prototype_text(proto):
    """'CUresult CUDAAPI name(params)' as cuda.h spells the parameters."""
    params = ", ".join(proto.params) if proto.params != [""] else "void"
    return f"{proto.ret} CUDAAPI {proto.name}({params})"


def write_driver_api_h(path, cuda_home, exported, protos, undefs, types):
    """driver_api.h: cuda.h plus every exported symbol under its own name."""
    out = [HEADER_NOTE.format(cuda_home=cuda_home), """\
#ifndef VGPU_DRIVER_API_H
#define VGPU_DRIVER_API_H

/*
 * The shim defines the driver's functions under their exported names, so
 * cuda.h's renaming macros (cuMemAlloc -> cuMemAlloc_v2, the per-thread
 * stream ones) must not apply.  cuda.h must come in through this header:
 * in per-thread mode it would also define static inline functions.
 */
#if defined(__cuda_cuda_h__)
#error "include driver_api.h (shim.h) before cuda.h"
#endif
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#error "the shim is built in the default (legacy) stream mode of cuda.h"
#endif

/* The shim implements deprecated functions too; their use is not a warning. */
#define CUDA_ENABLE_DEPRECATED 1
"""]
    out += [f"#include <{h}>" for h in HEADERS]
    out.append("\n/* cuda.h's macros that rename API names. */")
    out += [f"#undef {name}" for name in undefs]
    out.append("\n/* Types of legacy ABIs that only cuda.h's internal mode "
               "defines. */")
    out.append("\n\n".join(types))
    out.append("""
/* Every function the driver exports, under its exported name. */
#define VGPU_EXPORT __attribute__((visibility("default")))
""")
    out += [f"VGPU_EXPORT {prototype_text(protos[n])};" for n in exported]
    out.append("\n#endif /* VGPU_DRIVER_API_H */\n")
    write(path, "\n".join(out))


def write_driver_stubs_c(path, cuda_home, exported, protos):
    """driver_stubs.c: weak NOT_SUPPORTED definitions of every export."""
    out = [HEADER_NOTE.format(cuda_home=cuda_home), """\
/*
 * A weak definition of every exported symbol: the hand-written strong
 * definitions in guest-shim/ replace these at link time, so what the shim
 * does not implement fails with CUDA_ERROR_NOT_SUPPORTED (and is logged once)
 * instead of being missing.
 */
#include "shim.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"
"""]
    for name in exported:
        proto = protos[name]
        out.append(f"__attribute__((weak)) {prototype_text(proto)}\n{{\n"
                   f"\treturn vgpu_unsupported(\"{name}\");\n}}\n")
    write(path, "\n".join(out))


def write_procaddr_table_c(path, cuda_home, entries):
    """procaddr_table.c: the table guest-shim/procaddr.c searches."""
    out = [HEADER_NOTE.format(cuda_home=cuda_home), """\
/*
 * cuGetProcAddress's table: one row per PFN_<api>_v<version>[_ptds|_ptsz]
 * typedef of cudaTypedefs.h, pointing at the exported symbol with that ABI.
 * Sorted by (api, per_thread, version) for binary search.
 */
#include "shim.h"
#include "procaddr.h"

const struct vgpu_procaddr_entry vgpu_procaddr_table[] = {"""]
    for e in entries:
        per_thread = "true" if e.per_thread else "false"
        out.append(f"\t{{ \"{e.api}\", {e.version}, {per_thread}, "
                   f"(vgpu_fn){e.symbol} }},")
    out.append("};\n\nconst size_t vgpu_procaddr_count =\n\tsizeof("
               "vgpu_procaddr_table) / sizeof(vgpu_procaddr_table[0]);\n")
    write(path, "\n".join(out))


def write(path, text):
    """Replace @path with @text atomically (no half-written file for make)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------

def check_params_structs(statements, types, protos, meta):
    """The prototypes agree with generated_cuda_meta.h's argument structs."""
    structs = parse_params_structs(statements, types)
    differ = [f"{n}: {protos[n].sig[1]} vs {members}"
              for n, members in sorted(structs.items())
              if n in protos and protos[n].sig[1] != members]
    if differ:
        raise GenError(f"prototypes and {META_HEADER} disagree:\n  "
                       + "\n  ".join(differ))
    if meta and len(structs) < len(protos) * 9 // 10:
        raise GenError(f"only {len(structs)} structs read from {META_HEADER}")
    return len(structs)


def check_normal_mode(statements, types, protos):
    """Normal-mode cuda.h (what the shim's C sees) agrees with internal mode.

    Its declarations, under their macro-expanded names, must have the types
    of the internal-mode declarations of those names.
    """
    for name, proto in parse_prototypes(statements, types).items():
        if name not in protos:
            raise GenError(f"cuda.h declares {name}, which is not exported")
        if proto.sig != protos[name].sig:
            raise GenError(f"{name}: cuda.h and its internal mode disagree: "
                           f"{proto.sig} vs {protos[name].sig}")


def check_renaming_macros(macros, entries, exported):
    """The table reaches what cuda.h's macros rename each API to.

    Where cuda.h renames an API to a version of itself (cuMemAlloc ->
    cuMemAlloc_v2, cuMemcpyHtoD -> cuMemcpyHtoD_v2_ptds in per-thread mode),
    some table entry of that API and variant is that symbol.  It need not be
    the newest: per-thread cuda.h keeps cuStreamGetCtx at the 2-argument ABI
    although cuStreamGetCtx@12050 takes 3.  cuGraphInstantiate ->
    cuGraphInstantiateWithFlags renames to another API, of which
    cudaTypedefs.h has no PFN, so the table has none either.
    """
    reached = {(e.api, e.per_thread, e.symbol) for e in entries}
    for name, exps in sorted(macros.items()):
        for exp in sorted(exps):
            api, suffix = api_of(exp)
            if (api == name and exp in exported
                    and (name, suffix != "", exp) not in reached):
                raise GenError(f"cuda.h maps {name} to {exp}, but no PFN "
                               f"typedef of {name} maps to it")


def generate(cuda_home, out_dir, cc, verbose):
    """Read the toolkit, check it, write the three outputs."""
    include_dir = os.path.join(cuda_home, "include")
    stub = os.path.join(cuda_home, "lib64", "stubs", "libcuda.so")
    exported = read_exported_functions(stub)
    cross_check_with_nm(stub, exported)

    meta = (META_HEADER,) if os.path.exists(
        os.path.join(include_dir, META_HEADER)) else ()
    internal_text = preprocess(cc, include_dir,
                               HEADERS + TYPEDEF_HEADERS + meta,
                               ("__CUDA_API_VERSION_INTERNAL",))
    internal_stmts = toolkit_statements(internal_text, include_dir)
    internal_types = TypeTable(internal_stmts)
    protos = parse_prototypes(internal_stmts, internal_types)
    pfns = parse_pfns(internal_stmts, internal_types)

    missing = [n for n in exported if n not in protos]
    if missing:
        raise GenError("exported names without a prototype in "
                       f"{', '.join(HEADERS)}: {', '.join(missing)}")
    odd = [n for n in exported if protos[n].sig[0] != "enum cudaError_enum"]
    if odd:
        raise GenError("exported functions that do not return CUresult "
                       f"(the stubs cannot return NOT_SUPPORTED): {odd}")
    nstructs = check_params_structs(internal_stmts, internal_types, protos,
                                    meta)
    normal_stmts = toolkit_statements(
        preprocess(cc, include_dir, HEADERS), include_dir)
    normal_types = TypeTable(normal_stmts)
    check_normal_mode(normal_stmts, normal_types, protos)

    entries, notes = map_pfns(pfns, protos, exported)
    macros = renaming_macros(cc, include_dir,
                             set(exported) | {p.api for p in pfns})
    check_renaming_macros(macros, entries, set(exported))
    types = legacy_types(normal_types, internal_types,
                         [protos[n] for n in exported])

    os.makedirs(out_dir, exist_ok=True)
    write_driver_api_h(os.path.join(out_dir, "driver_api.h"), cuda_home,
                       exported, protos, sorted(macros), types)
    write_driver_stubs_c(os.path.join(out_dir, "driver_stubs.c"), cuda_home,
                         exported, protos)
    write_procaddr_table_c(os.path.join(out_dir, "procaddr_table.c"),
                           cuda_home, entries)

    reachable = {e.symbol for e in entries}
    unreachable = [n for n in exported if n not in reachable]
    log(f"{len(exported)} exported functions, {len(pfns)} PFN typedefs, "
        f"{len(entries)} table entries for {len({e.api for e in entries})} "
        f"API names, {len(unreachable)} exports unreachable; "
        f"{len(macros)} renaming macros undone, {len(types)} legacy types; "
        f"{nstructs} {META_HEADER} argument lists agree")
    log(f"{len(notes)} groups of same-ABI symbols paired with versions in "
        f"order" + (":" if verbose else " (-v lists them)"))
    if verbose:
        for note in notes:
            log("  " + note)
        if unreachable:
            log("exported but not reachable through cuGetProcAddress: "
                + ", ".join(unreachable))


def main():
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuda-home", required=True,
                    help="CUDA toolkit root (include/, lib64/stubs/)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"),
                    help="C preprocessor to run (default: $CC or gcc)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="report same-ABI pairings and unreachable exports")
    args = ap.parse_args()
    try:
        generate(args.cuda_home, args.out, args.cc, args.verbose)
    except (GenError, OSError, subprocess.CalledProcessError) as e:
        log(f"error: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
