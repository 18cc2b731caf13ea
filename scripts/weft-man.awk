# weft-man.awk - man pages (section 3) from the comments of include/weft.h.
#
#   awk -v outdir=DIR -v version=X.Y.Z -f scripts/weft-man.awk include/weft.h
#       writes DIR/<function>.3 for every WEFT_API function, DIR/<type>.3 for
#       every typedef and function-like macro with a comment above it, and
#       DIR/weft.3, the overview: the header's opening comment, then every
#       section of the header with its calls.
#   awk -v check=1 -f scripts/weft-man.awk include/weft.h
#       writes nothing; lists every WEFT_API function without a comment
#       directly above it (no blank line between) and exits 1 if there is one.
#
# POSIX awk only (Debian's mawk is enough), so building the pages needs
# nothing beyond what building weft needs.
#
# What the header's layout means here: a section is a banner comment
#   /* ----------...
#    * Title: what the section is about ...
#    * ----------... */
# a subsection a one-line "/* ---- name ---- */"; a declaration's
# documentation is the comment that ends on the line just above it. A page's
# SEE ALSO names the other calls of its subsection (or of its section when
# it has none) and the types its synopsis uses. A description's sentences
# that begin with "Returns", "Errors" or an -E code become RETURN VALUE,
# unless nothing would be left.

BEGIN {
    nfn = 0; ntype = 0; nsec = 0; ngroup = 0; bad = 0
    incomment = 0; comment = ""; comment_end = -1; comment_banner = 0
    indecl = 0; intypedef = 0; inmacro = 0
    top = ""
    if (version == "") version = "0"
}

# ---------------------------------------------------------------- reading

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# Strips the comment markers from one line of a comment: "/* ", " * ", "*/".
function comment_text(line) {
    sub(/[ \t]*\*\/[ \t]*$/, "", line)
    if (line ~ /^[ \t]*\/\*/) sub(/^[ \t]*\/\*+ ?/, "", line)
    else if (line ~ /^[ \t]*\*/) sub(/^[ \t]*\* ?/, "", line)
    sub(/[ \t]+$/, "", line)
    return line
}

function is_dashes(s) { return s ~ /^-+$/ }

function new_group(title) {
    ngroup++
    group_title[ngroup] = title
    group_sec[ngroup] = nsec
}

# A finished comment block: a section banner, a subsection marker, or a
# candidate documentation comment for what follows.
function end_comment(    n, i, lines, t, title, body, first) {
    n = split(comment, lines, "\n")
    first = comment_text(lines[1])
    if (n == 1 && first ~ /^-+ .* -+$/) {           # /* ---- name ---- */
        t = first
        sub(/^-+ /, "", t); sub(/ -+$/, "", t)
        new_group(t)
        comment = ""; comment_end = -1
        return
    }
    if (first ~ /^-+$/ && n > 1) {                  # a section banner
        body = ""
        for (i = 2; i <= n; i++) {
            t = comment_text(lines[i])
            if (is_dashes(t)) continue
            body = body (body == "" ? "" : "\n") t
        }
        title = body
        sub(/\n.*/, "", title)
        if (match(title, /(: |\. | \(|,$|\.$|:$)/)) title = substr(title, 1, RSTART - 1)
        nsec++
        sec_title[nsec] = trim(title)
        sec_text[nsec] = body
        new_group("")
        comment = ""; comment_end = -1
        return
    }
    body = ""
    for (i = 1; i <= n; i++)
        body = body (i == 1 ? "" : "\n") comment_text(lines[i])
    if (top == "" && nfn == 0 && nsec == 0) top = body
    comment_doc = body
    comment_end = NR
    comment = ""
}

function doc_above() { return comment_end == NR - 1 ? comment_doc : "" }

# The identifier a declaration declares: the first name followed by "(".
function decl_name(d,    s) {
    s = d
    sub(/^WEFT_API[ \t]+/, "", s)
    if (!match(s, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) return ""
    s = substr(s, RSTART, RLENGTH)
    sub(/[ \t]*\($/, "", s)
    return s
}

function add_fn(name, proto, doc, line) {
    nfn++
    fn_name[nfn] = name; fn_proto[nfn] = proto; fn_doc[nfn] = doc
    fn_line[nfn] = line; fn_group[nfn] = ngroup
    if (doc == "") {
        printf "%s:%d: %s has no comment directly above it\n", FILENAME, line, name > "/dev/stderr"
        bad++
    }
}

function add_type(name, code, doc, kind) {
    if (doc == "" || name == "") return
    ntype++
    ty_name[ntype] = name; ty_code[ntype] = code; ty_doc[ntype] = doc
    ty_group[ntype] = ngroup; ty_kind[ntype] = kind
}

{ sub(/\r$/, "") }

incomment {
    comment = comment "\n" $0
    if ($0 ~ /\*\//) { incomment = 0; end_comment() }
    next
}

indecl {
    decl = decl "\n" $0
    if ($0 ~ /;/) { indecl = 0; add_fn(decl_name(decl), decl, decl_doc, decl_line) }
    next
}

intypedef {
    decl = decl "\n" $0
    if ($0 ~ /^}[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*;/) {
        intypedef = 0
        t = $0; sub(/^}[ \t]*/, "", t); sub(/[ \t]*;.*/, "", t)
        add_type(t, decl, decl_doc, "type")
    }
    next
}

inmacro {
    decl = decl "\n" $0
    if ($0 !~ /\\$/) { inmacro = 0; add_type(macro_name, decl, decl_doc, "macro") }
    next
}

/^[ \t]*\/\*/ {
    comment = $0
    if ($0 ~ /\*\/[ \t]*$/ && !($0 ~ /^[ \t]*\/\*[ \t]*\*\/$/)) { end_comment(); next }
    if ($0 ~ /\*\//) { comment = ""; comment_end = -1; next }   # code after a comment
    incomment = 1
    next
}

/^WEFT_API[ \t]/ {
    decl = $0; decl_doc = doc_above(); decl_line = NR
    if ($0 ~ /;/) add_fn(decl_name(decl), decl, decl_doc, decl_line)
    else indecl = 1
    next
}

/^typedef[ \t]+(struct|enum|union)[ \t]+[A-Za-z0-9_]*[ \t]*\{/ {
    decl = $0; decl_doc = doc_above(); intypedef = 1
    next
}

/^typedef[ \t]/ && /;/ {
    t = $0
    if (match(t, /\(\*[ \t]*[A-Za-z_][A-Za-z0-9_]*\)/)) {
        t = substr(t, RSTART + 2, RLENGTH - 3)
    } else {
        sub(/[ \t]*;.*/, "", t); sub(/.*[^A-Za-z0-9_]/, "", t)
    }
    add_type(trim(t), $0, doc_above(), "type")
    next
}

/^#define[ \t]+[A-Za-z_][A-Za-z0-9_]*\(/ {
    macro_name = $0
    sub(/^#define[ \t]+/, "", macro_name); sub(/\(.*/, "", macro_name)
    decl = $0; decl_doc = doc_above()
    if ($0 ~ /\\$/) inmacro = 1
    else add_type(macro_name, decl, decl_doc, "macro")
    next
}

# anything else (a blank line, other code) ends the reach of a comment
{ comment_end = -1 }

# ---------------------------------------------------------------- writing

# Replaces every occurrence of `from` in s by `to`, with no regex and no
# special characters in `to` (gsub's "\\" and "&" differ between awks).
function replace(s, from, to,    out, i) {
    out = ""
    while ((i = index(s, from)) > 0) {
        out = out substr(s, 1, i - 1) to
        s = substr(s, i + length(from))
    }
    return out s
}

# Text for roff: backslashes and minus signs escaped, and a line that
# would read as a request guarded.
function esc(s) {
    s = replace(s, "\\", "\\e")
    s = replace(s, "-", "\\-")
    if (s ~ /^[.']/) s = "\\&" s
    return s
}

function is_ident_char(c) { return c ~ /[A-Za-z0-9_]/ }

# True if word occurs in s as a whole identifier.
function has_word(s, word,    i, rest, off) {
    off = 0
    while ((i = index(substr(s, off + 1), word)) > 0) {
        i += off
        if ((i == 1 || !is_ident_char(substr(s, i - 1, 1))) &&
            !is_ident_char(substr(s, i + length(word), 1)))
            return 1
        off = i
    }
    return 0
}

# Splits prose into sentences (out[1..n]); a period inside parentheses
# or not followed by a space and a capital, digit, sign or quote ends none.
function sentences(text, out,    n, i, c, depth, cur, nxt) {
    n = 0; depth = 0; cur = ""
    gsub(/[ \t\n]+/, " ", text)
    text = trim(text)
    for (i = 1; i <= length(text); i++) {
        c = substr(text, i, 1)
        cur = cur c
        if (c == "(" || c == "[") depth++
        else if ((c == ")" || c == "]") && depth > 0) depth--
        else if ((c == "." || c == "?" || c == "!") && depth == 0) {
            nxt = substr(text, i + 1, 2)
            if (nxt == "" || nxt ~ /^ [A-Z0-9"`'(*-]/) {
                out[++n] = trim(cur); cur = ""
            }
        }
    }
    if (trim(cur) != "") out[++n] = trim(cur)
    return n
}

function is_return_sentence(s) {
    return s ~ /^(Returns?|Errors)[ :]/ || s ~ /^-E[A-Z]/
}

# The blocks of a comment: block_kind[k] is "p" (prose), "li" (a list
# item) or "pre" (lines indented as a table or code), block_text[k] its
# text. Returns the count.
function blocks(doc,    n, lines, i, l, ind, nb, kind, li_ind) {
    nb = 0; kind = ""
    n = split(doc, lines, "\n")
    for (i = 1; i <= n; i++) {
        l = lines[i]
        if (trim(l) == "") { kind = ""; continue }
        match(l, /^ */); ind = RLENGTH
        if (substr(l, ind + 1, 2) == "- ") {
            nb++; block_kind[nb] = "li"; block_text[nb] = substr(l, ind + 3)
            kind = "li"; li_ind = ind
        } else if (kind == "li" && ind > li_ind) {
            block_text[nb] = block_text[nb] " " trim(l)
        } else if (ind >= 2) {
            if (kind != "pre") { nb++; block_kind[nb] = "pre"; block_text[nb] = ""; kind = "pre" }
            block_text[nb] = block_text[nb] (block_text[nb] == "" ? "" : "\n") l
        } else {
            if (kind != "p") { nb++; block_kind[nb] = "p"; block_text[nb] = ""; kind = "p" }
            block_text[nb] = block_text[nb] " " l
        }
    }
    return nb
}

function emit_sentences(f, text,    n, s, i) {
    n = sentences(text, s)
    for (i = 1; i <= n; i++) print esc(s[i]) > f
}

# DESCRIPTION (and RETURN VALUE, when it separates) of a comment.
function emit_doc(f, doc, with_returns,    nb, k, n, s, i, ret, kept, total, text, pl, j) {
    nb = blocks(doc)
    ret = ""; kept = 0; total = 0
    if (with_returns) {
        for (k = 1; k <= nb; k++) {
            if (block_kind[k] != "p") { kept++; continue }
            n = sentences(block_text[k], s)
            for (i = 1; i <= n; i++) {
                total++
                if (is_return_sentence(s[i])) ret = ret (ret == "" ? "" : "\n") s[i]
                else kept++
            }
        }
        if (kept == 0) ret = ""
    }
    print ".SH DESCRIPTION" > f
    for (k = 1; k <= nb; k++) {
        if (k > 1) print ".PP" > f
        if (block_kind[k] == "pre") {
            print ".RS 2\n.nf" > f
            n = split(block_text[k], pl, "\n")
            for (j = 1; j <= n; j++) print esc(pl[j]) > f
            print ".fi\n.RE" > f
        } else if (block_kind[k] == "li") {
            print ".IP \\(bu 2" > f
            emit_sentences(f, block_text[k])
        } else {
            n = sentences(block_text[k], s)
            for (i = 1; i <= n; i++)
                if (ret == "" || !is_return_sentence(s[i])) print esc(s[i]) > f
        }
    }
    if (ret != "") {
        print ".SH RETURN VALUE" > f
        n = split(ret, s, "\n")
        for (i = 1; i <= n; i++) print esc(s[i]) > f
    }
}

# The NAME line's summary: the comment's first sentence, with parenthetical
# asides dropped and cut short at a word when it runs long.
function summary(doc,    s, n, out, i, c, depth, t) {
    n = sentences(doc, s)
    if (n == 0) return "(undocumented)"
    t = s[1]; out = ""; depth = 0
    for (i = 1; i <= length(t); i++) {
        c = substr(t, i, 1)
        if (c == "(" && substr(t, i - 1, 1) == " ") { depth++; continue }
        if (depth > 0) { if (c == "(") depth++; else if (c == ")") depth--; continue }
        out = out c
    }
    gsub(/  +/, " ", out)
    out = replace(replace(replace(replace(out, " ,", ","), " .", "."), " ;", ";"), " :", ":")
    out = trim(out); sub(/[.:]$/, "", out)
    if (length(out) > 90) {
        out = substr(out, 1, 90); sub(/ [^ ]*$/, "", out); out = out "..."
    }
    if (out ~ /^[A-Z]([a-z]| )/) out = tolower(substr(out, 1, 1)) substr(out, 2)
    return out
}

function header(f, name, desc) {
    print ".\\\" Generated from include/weft.h by scripts/weft-man.awk: edit the header, not this page." > f
    printf ".TH %s 3 \"\" \"weft %s\" \"weft manual\"\n", toupper(name), version > f
    print ".nh\n.ad l" > f
    print ".SH NAME" > f
    print esc(name) " \\- " esc(desc) > f
}

# The prototype as an application writes it: WEFT_API gone, continuation
# lines moved left as far, the function's name in bold.
function emit_code(f, code, bold,    n, l, i, cut, pos) {
    n = split(code, l, "\n")
    cut = 0
    if (l[1] ~ /^WEFT_API[ \t]+/) {
        cut = length(l[1]); sub(/^WEFT_API[ \t]+/, "", l[1]); cut -= length(l[1])
    }
    for (i = 1; i <= n; i++) {
        if (sub(/[ \t]+\\$/, "", l[i]))    # a macro's continuation, without its padding
            l[i] = l[i] " \\"
        if (i > 1 && cut > 0 && substr(l[i], 1, cut) ~ /^ *$/) l[i] = substr(l[i], cut + 1)
        l[i] = esc(l[i])
        if (bold != "" && i == 1 && (pos = index(l[i], esc(bold) "(")) > 0)
            l[i] = substr(l[i], 1, pos - 1) "\\fB" esc(bold) "\\fP" substr(l[i], pos + length(esc(bold)))
        print l[i] > f
    }
}

function see_also(f, self, grp, code,    i, list, n) {
    n = 0
    for (i = 1; i <= nfn; i++)
        if (fn_group[i] == grp && fn_name[i] != self) list[++n] = fn_name[i]
    for (i = 1; i <= ntype; i++)
        if (ty_name[i] != self && (has_word(code, ty_name[i]) ||
                                   (ty_kind[i] == "macro" && ty_group[i] == grp)))
            list[++n] = ty_name[i]
    list[++n] = "weft"
    print ".SH SEE ALSO" > f
    for (i = 1; i <= n; i++)
        printf ".BR %s (3)%s\n", esc(list[i]), i < n ? "," : "" > f
}

function fn_page(i,    f) {
    f = outdir "/" fn_name[i] ".3"
    header(f, fn_name[i], summary(fn_doc[i]))
    print ".SH SYNOPSIS\n.nf\n.B #include <weft.h>\n.PP" > f
    emit_code(f, fn_proto[i], fn_name[i])
    print ".fi\n.PP\nLink with \\fI\\-lweft\\fP (\\fIpkg\\-config \\-\\-libs weft\\fP)." > f
    emit_doc(f, fn_doc[i] == "" ? "(undocumented)" : fn_doc[i], 1)
    see_also(f, fn_name[i], fn_group[i], fn_proto[i])
    close(f)
}

function type_page(i,    f, j, users, n) {
    f = outdir "/" ty_name[i] ".3"
    header(f, ty_name[i], summary(ty_doc[i]))
    print ".SH SYNOPSIS\n.nf\n.B #include <weft.h>\n.PP" > f
    emit_code(f, ty_code[i], "")
    print ".fi" > f
    emit_doc(f, ty_doc[i], 0)
    # the calls that take or return it
    n = 0
    print ".SH SEE ALSO" > f
    for (j = 1; j <= nfn; j++)
        if (has_word(fn_proto[j], ty_name[i]) || (ty_kind[i] == "macro" && fn_group[j] == ty_group[i]))
            printf ".BR %s (3),\n", esc(fn_name[j]) > f
    print ".BR weft (3)" > f
    close(f)
}

function overview(    f, s, g, i, t) {
    f = outdir "/weft.3"
    header(f, "weft", "coroutines, generators and an event loop for C")
    print ".SH SYNOPSIS\n.nf\n.B #include <weft.h>\n.fi\n.PP" > f
    print "Link with \\fI\\-lweft\\fP (\\fIpkg\\-config \\-\\-libs weft\\fP)." > f
    emit_doc(f, top, 0)
    print ".SH FUNCTIONS" > f
    print "One page each: \\fBman\\fP \\fIname\\fP." > f
    for (s = 1; s <= nsec; s++) {
        print ".SS " esc(sec_title[s]) > f
        t = sec_text[s]; sub(/\.$/, "", t)
        if (t != sec_title[s]) emit_sentences(f, sec_text[s])
        for (g = 1; g <= ngroup; g++) {
            if (group_sec[g] != s) continue
            if (group_title[g] != "") print ".PP\n\\fI" esc(group_title[g]) "\\fP" > f
            for (i = 1; i <= nfn; i++) {
                if (fn_group[i] != g) continue
                printf ".TP\n.BR %s (3)\n%s\n", esc(fn_name[i]), esc(summary(fn_doc[i])) > f
            }
        }
    }
    print ".SH TYPES AND MACROS" > f
    for (i = 1; i <= ntype; i++)
        printf ".TP\n.BR %s (3)\n%s\n", esc(ty_name[i]), esc(summary(ty_doc[i])) > f
    close(f)
}

END {
    if (incomment || indecl || intypedef || inmacro) {
        printf "%s: ends inside a comment or declaration\n", FILENAME > "/dev/stderr"
        exit 2
    }
    for (i = 1; i <= nfn; i++)
        if (fn_name[i] == "") {
            printf "%s:%d: cannot find the name of this WEFT_API declaration\n", FILENAME, fn_line[i] > "/dev/stderr"
            bad++
        }
    if (check) exit bad > 0
    if (outdir == "") { print "weft-man.awk: set -v outdir=DIR" > "/dev/stderr"; exit 2 }
    for (i = 1; i <= nfn; i++) if (fn_name[i] != "") fn_page(i)
    for (i = 1; i <= ntype; i++) type_page(i)
    overview()
}
