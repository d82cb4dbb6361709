#!/usr/bin/env python3
"""Longest C/C++ function definitions, signature line to closing brace.

  python3 tools/longest_functions.py [ROOT] [N] [--with-tests]

Production code only unless --with-tests (skips *_test.cc, test/ and testing/).
Rough by design: comments and literals are blanked, then every '{' whose
header since the last ';', '{' or '}' looks like a function signature (ends in
')' plus qualifiers or a constructor's initialiser list, and is not
if/for/while/switch/catch or a lambda) opens a function; nested ones count
only as part of their outer function."""
import os, re, sys
args = [a for a in sys.argv[1:] if not a.startswith('--')]
root = args[0] if args else '.'
n = int(args[1]) if len(args) > 1 else 15
tests = '--with-tests' in sys.argv

def blank(src):
    out, i, L = [], 0, len(src)
    while i < L:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = L if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = L if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif src.startswith('R"', i) and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')):
            m = re.match(r'R"([^(\s]*)\(', src[i:])
            if m:
                end = src.find(')' + m.group(1) + '"', i); end = L if end < 0 else end + len(m.group(1)) + 2
                out.append(re.sub(r'[^\n]', ' ', src[i:end])); i = end
            else:
                out.append(c); i += 1
        elif c in '"\'':
            j = i + 1
            while j < L and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            out.append(c + ' ' * (j - i - 1) + c); i = j + 1
        elif c == '#' and (i == 0 or src[i-1] == '\n'):
            j = i
            while True:
                k = src.find('\n', j); k = L if k < 0 else k
                if k > 0 and src[k-1] == '\\': j = k + 1; continue
                break
            out.append(re.sub(r'[^\n]', ' ', src[i:k])); i = k
        else:
            out.append(c); i += 1
    return ''.join(out)

SIG = re.compile(r'\)\s*(const|override|final|noexcept|mutable|&|->\s*[\w:<>,\s\*&]+|\s)*$|\)\s*:\s*[\w:]+[\(\{].*[\)\}]\s*$', re.S)
KEY = re.compile(r'^\s*(if|for|while|switch|catch|else|do|return)\b')
out = []
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if not x.startswith(('.', 'bazel-')) and x != 'third_party']
    rel = os.path.relpath(d, root)
    if not tests and (rel == 'test' or rel.startswith('test/') or '/testing' in '/' + rel): continue
    for f in files:
        if not f.endswith(('.cc', '.c', '.h')): continue
        if not tests and f.endswith('_test.cc'): continue
        p = os.path.join(d, f)
        src = blank(open(p, errors='replace').read())
        stack, last = [], 0  # stack of (is_function, start_offset, name)
        for i, c in enumerate(src):
            if c == '{':
                header = src[last:i].strip()
                is_fn = False; name = '?'
                if header and SIG.search(header) and not KEY.match(header) and ']' not in header.split('(')[0][-3:] \
                   and not re.search(r'\]\s*\(', header) and not any(s[0] for s in stack):
                    m = re.search(r'([A-Za-z_~][\w:~]*)\s*\(', header)
                    if m and m.group(1) not in ('if', 'for', 'while', 'switch', 'catch'):
                        is_fn, name = True, m.group(1)
                start = last + (len(src[last:i]) - len(src[last:i].lstrip()))
                stack.append((is_fn, start, name))
                last = i + 1
            elif c == '}':
                if stack:
                    is_fn, start, name = stack.pop()
                    if is_fn:
                        a = src.count('\n', 0, start) + 1; b = src.count('\n', 0, i) + 1
                        out.append((b - a + 1, name, os.path.relpath(p, root), a))
                last = i + 1
            elif c == ';':
                last = i + 1
out.sort(key=lambda t: (-t[0], t[2], t[3]))
for length, name, path, line in out[:n]:
    print(f'{length:4d}  {name:42s} {path}:{line}')
