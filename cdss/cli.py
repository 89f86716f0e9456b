"""The ``cdss`` command line: a thin layer over the library.

Errors print one clear message to stderr and exit non-zero; no traceback escapes
(set ``CDSS_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from cdss import backends
from cdss._resources import knowledge_dir, rules_dir, samples_dir
from cdss._version import __version__
from cdss.errors import CdssError, FieldProblem, InputError, KnowledgeError, RuleSpecError
from cdss.report import severity_word
from cdss.rulelang.spec import STATUSES

EXIT_INPUT = 2
EXIT_CONFIG = 3
EXIT_LINT = 1
EXIT_INTERNAL = 70


def _regular_file(path: str, what: str = "$") -> Path:
    """``path`` if it is a regular file: a FIFO or device would block the read (a FIFO
    with no writer waits for ever) and a directory cannot be read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError([FieldProblem(what, f"file not found: {path}")]) from None
    except OSError as exc:
        raise InputError([FieldProblem(what, f"cannot read {path}: {exc.strerror}")]) from None
    if stat.S_ISDIR(mode):
        raise InputError([FieldProblem(what, f"{path} is a directory, not a file")])
    if not stat.S_ISREG(mode):
        raise InputError([FieldProblem(what, f"{path} is not a regular file (a FIFO, socket "
                                             "or device is not read; use - for stdin)")])
    return Path(path)


def _out_folder(out: str, option: str = "--out") -> Path:
    """``--out``: a folder that exists or can be made (not a file)."""
    folder = Path(out)
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError([FieldProblem(option, f"{p} exists and is not a folder")])
            if p == folder and not os.access(p, os.W_OK | os.X_OK):
                raise InputError([FieldProblem(option, f"{p} is not writable")])
            break
    return folder


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return _regular_file(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([FieldProblem("$", f"file not found: {path}")]) from None
    except UnicodeDecodeError:
        raise InputError([FieldProblem("$", f"{path} is not UTF-8 text")]) from None
    except OSError as exc:
        raise InputError([FieldProblem("$", f"cannot read {path}: {exc.strerror}")]) from None


def _engine(args: argparse.Namespace):
    from cdss.engine import Engine

    statuses = getattr(args, "status", None)
    return Engine(lang=getattr(args, "lang", "zh"), rules_dir=getattr(args, "rules", None),
                  knowledge_dir=getattr(args, "knowledge", None),
                  backend=getattr(args, "backend", backends.DEFAULT),
                  site=getattr(args, "site", None),
                  **({"statuses": tuple(statuses)} if statuses else {}))


def _render(report, fmt: str) -> str:
    if fmt == "text":
        return report.to_text()
    if fmt == "cds-hooks":
        return json.dumps(report.to_cds_hooks(), ensure_ascii=False, indent=2)
    return report.to_json()


def cmd_check(args: argparse.Namespace) -> int:
    text = _read_text(args.file)
    report = _engine(args).check(text)
    print(_render(report, args.format))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from cdss.verify import load_report, verify

    report_text = _read_text(args.report)
    result = verify(load_report(report_text), _read_text(args.encounter),
                    report_text=report_text, rules_dir=args.rules,
                    knowledge_dir=args.knowledge, site=args.site)
    print(result.to_text())
    return 0 if result.reproduces else 1


def _sample_files() -> list[Path]:
    return sorted(samples_dir().glob("*.json"))


def cmd_demo(args: argparse.Namespace) -> int:
    zh = args.lang == "zh"
    started = time.perf_counter()
    engine = _engine(args)
    built = time.perf_counter() - started
    files = _sample_files()
    totals: Counter[str] = Counter()
    not_evaluated = 0
    elapsed = 0.0
    print(f"cdss {__version__} — {'示例就诊审核' if zh else 'demo audit of sample encounters'}"
          f" ({len(files)} {'例' if zh else 'encounters'}, {len(engine.rules)} "
          f"{'条规则' if zh else 'rules'}, {'引擎启动' if zh else 'engine start-up'} "
          f"{built:.2f} s)\n")
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        report = engine.check(raw)
        elapsed += time.perf_counter() - t0
        desc = raw.get("description", {}).get(args.lang, "")
        print(f"■ {report.encounter_id}  {desc}")
        if not report.suggestions:
            print(f"    {'无提示' if zh else 'no suggestions'}")
        for s in report.suggestions:
            totals[s.severity] += 1
            level = severity_word(s.severity, args.lang)
            print(f"    {level:{6 if zh else 8}} {s.text('title', args.lang)}")
            print(f"             {s.text('message', args.lang)}")
        summary = report.to_dict()["missing_summary"]
        if summary:  # the data worth collecting now, as the doctor sees it
            print(f"    {summary}")
        not_evaluated += len(report.not_evaluated)
        print()
    n = len(files)
    counts = ", ".join(f"{severity_word(k, args.lang) if zh else k} {totals[k]}"
                       for k in ("critical", "warning", "info"))
    print(("合计" if zh else "Total") + f": {counts}; "
          f"{'未能评估的规则（审核用）' if zh else 'rules not evaluated (for auditors)'} "
          f"{not_evaluated}; "
          f"{'平均每例' if zh else 'mean per encounter'} {1000 * elapsed / max(n, 1):.2f} ms")
    print("cdss check <file.json> --format text  " +
          ("查看单例完整解释" if zh else "shows the full explanation of one encounter"))
    return 0


def cmd_kb(args: argparse.Namespace) -> int:
    result = _engine(args).lookup(" ".join(args.query), lang=args.lang)
    if args.format == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.to_text())
    return 0 if result else 4


def _month(text: str) -> str:
    """A ``YYYY-MM`` month (argparse type of ``cdss audit --cutoff``)."""
    from cdss.reporting.context import check_cutoff

    try:
        return check_cutoff(text) or text
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_audit(args: argparse.Namespace) -> int:
    path = _regular_file(args.file)
    if path.suffix not in (".jsonl", ".ndjson"):
        raise InputError([FieldProblem("$", f"expected a .jsonl file (one encounter per "
                                            f"line): {args.file}")])
    if args.out is None and args.parquet is None:
        raise InputError([FieldProblem("--out", "give --out DIR (report), --parquet DIR "
                                                "(partitioned tables) or both")])
    # before the audit: a bad folder is not found at the end
    out = _out_folder(args.out) if args.out is not None else None
    parquet = _out_folder(args.parquet, "--parquet") if args.parquet is not None else None
    engine = _engine(args)
    if parquet is not None:
        from cdss.audit_parquet import read_partitioned, write_partitioned

        run = write_partitioned(engine, path, parquet, lang=args.lang)
        print(f"{run!r}", file=sys.stderr)
        if out is None:
            return 0
        result = read_partitioned(parquet)  # the report covers every partition
    else:
        result = engine.audit(path, lang=args.lang,
                              progress=None if args.progress else False,
                              keep_rows=not args.counts_only)
    assert out is not None
    from cdss.reporting.labels import LABELS

    try:
        report = result.write_report(out, title=f"{LABELS[args.lang]['title']} · {path.name}",
                                     lang=args.lang, cutoff=args.cutoff, engine=engine)
    except ImportError as exc:  # Jinja2 (the report extra) not installed
        print(f"cdss audit: {exc}", file=sys.stderr)
        return 2
    except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        raise InputError([FieldProblem("--out", f"cannot write the report in {out}: "
                                                f"{exc.strerror}")]) from None
    print(f"{result!r}\nreport: {report}", file=sys.stderr)
    return 0


def cmd_screen(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if args.file != "-" and not Path(args.file).exists():
        raise InputError([FieldProblem("$", f"file not found: {args.file}")])
    try:
        day = date.fromisoformat(args.as_of)
    except ValueError:
        raise InputError([FieldProblem("--as-of", f"not a date (YYYY-MM-DD): {args.as_of}")]
                         ) from None
    # stdin: the bytes of a JSON list, read as a file is (a bad entry is one error)
    source = sys.stdin.buffer.read() if args.file == "-" else args.file
    result = engine.screen(source, as_of=day, lang=args.lang)
    if args.format == "json":
        print(json.dumps({"as_of": str(result.as_of), "screened": result.screened,
                          "rows": result.rows, "errors": result.errors},
                         ensure_ascii=False, indent=2))
    else:
        print(result.to_text(args.lang))
    return 0


def cmd_rules_list(args: argparse.Namespace) -> int:
    engine = _engine(args)
    rows = [r for r in engine.rules if not args.category or r.spec.category == args.category]
    if args.format == "json":
        print(json.dumps([{"id": r.id, "version": r.spec.version, "category": r.spec.category,
                           "kind": r.spec.kind, "severity": r.spec.severity,
                           "status": r.spec.status, "owner": r.spec.owner,
                           "clinical_reviewer": r.spec.clinical_reviewer,
                           "reviewed": r.spec.reviewed and r.spec.reviewed.isoformat(),
                           "expires": r.spec.expires and r.spec.expires.isoformat(),
                           "file": r.file,
                           "title": r.spec.title.get(args.lang)} for r in rows],
                         ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(f"{r.id:55} {r.spec.category:9} {r.spec.kind:18} {r.spec.severity:8} "
              f"{r.spec.title.get(args.lang)}")
    print(f"\n{len(rows)} rules")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    from cdss.ruletest import load_cases, run_cases

    cases = load_cases(Path(args.cases))
    result = run_cases(_engine(args), cases)
    print(result.to_text(all_rules=args.all))
    return 0 if result.passed else EXIT_LINT


def cmd_site_diff(args: argparse.Namespace) -> int:
    from cdss.sitetools import layer_diff, upstream_changes

    diffs = layer_diff(args.site_dir, rules_dir=args.rules, knowledge_dir=args.knowledge)
    print("\n\n".join(d.to_text() for d in diffs))
    if args.upstream_rules:
        touched = upstream_changes(args.site_dir, args.upstream_rules,
                                   args.upstream_knowledge, rules_dir=args.rules,
                                   knowledge_dir=args.knowledge)
        print("\nupstream changes that touch a layer's overrides:")
        for level, lines in touched.items():
            print(f"{level}: " + ("none" if not lines else ""))
            for line in lines:
                print(f"  {line}")
    return 0


def cmd_site_impact(args: argparse.Namespace) -> int:
    import csv

    from cdss.audit_views import csv_cell
    from cdss.sitetools import impact, site_engine

    _regular_file(args.visits)
    out = _out_folder(args.out) if args.out else None  # checked before the replay
    options = {"lang": args.lang, "rules_dir": args.rules, "knowledge_dir": args.knowledge}
    result = impact(site_engine(args.before, **options), site_engine(args.after, **options),
                    args.visits)
    print(result.to_text())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for by in ("rule", "severity", "physician"):
            with (out / f"impact_by_{by}.csv").open("w", encoding="utf-8-sig",
                                                   newline="") as f:
                writer = csv.writer(f)
                writer.writerow([by, "before", "after", "change"])
                writer.writerows([(csv_cell(k), b, a, c) for k, b, a, c in result.table(by)])
        print(f"tables written to {out}")
    return 0


def cmd_rules_doc(args: argparse.Namespace) -> int:
    from cdss.rulelang.describe import rules_markdown

    engine = _engine(args)
    rules = [r for r in engine.rules if r.spec.category == args.category]
    text = rules_markdown(rules, f"{args.category.capitalize()} rules ({len(rules)})")
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"updated {args.write}")
    else:
        print(text)
    return 0


#: what the lint child runs: build the engine (durable-rules registers the rules
#: there) and check one empty encounter
_LINT_CHILD = """
import sys
from cdss.engine import Engine
from cdss.errors import CdssError
try:
    engine = Engine(rules_dir=sys.argv[1], knowledge_dir=sys.argv[2] or None)
    engine.check({"id": "lint", "time": "2026-01-01T09:00:00", "patient": {"id": "lint"}})
except CdssError as exc:
    print(exc)
    sys.exit(3)
print("ok")
"""


def engine_problem(rules: Path, knowledge: str | None, timeout: float) -> str | None:
    """Build the engine from ``rules`` in a child process with a time limit; return
    what went wrong (a crash, a hang, an error), or None if it built and checked."""
    import subprocess

    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        child = subprocess.run([sys.executable, "-c", _LINT_CHILD, str(rules), knowledge or ""],
                               capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"building the engine did not finish within {timeout:g} s (a hang)"
    if child.returncode == 0 and child.stdout.strip().endswith("ok"):
        return None
    if child.returncode < 0:
        return f"building the engine crashed the process (signal {-child.returncode})"
    detail = (child.stdout.strip() or child.stderr.strip()).splitlines()
    return f"building the engine failed (exit {child.returncode}): " + (
        detail[-1] if detail else "no output")


def _today(args: argparse.Namespace) -> date:
    """The date lint judges review dates by (``--today``, default the local date)."""
    if getattr(args, "today", None):
        try:
            return date.fromisoformat(args.today)
        except ValueError:
            raise InputError([FieldProblem("--today", f"not a date YYYY-MM-DD: "
                                           f"{args.today!r}")]) from None
    return date.today()


def cmd_rules_lint(args: argparse.Namespace) -> int:
    from cdss.kb import load_knowledge
    from cdss.rulelang import compile_all
    from cdss.rulelang.governance import governance_warnings
    from cdss.rulelang.params import repeated_thresholds

    folder = Path(args.rules) if args.rules else rules_dir()
    kb = load_knowledge(Path(args.knowledge) if args.knowledge else None)
    # what every registered backend cannot run is a problem of the pack
    rules, problems = compile_all(folder, kb, backends.validate_all)
    if not rules and len(problems) == 1 and problems[0].file == str(folder):
        raise problems[0]  # no folder, or no rules in it: not a pack (exit 3)
    messages = [str(problem) for problem in problems]
    if not problems:  # a pack that passes must also build: tried where a crash is safe
        trouble = engine_problem(folder, args.knowledge, args.timeout)
        if trouble:
            messages.append(f"{folder}: {trouble}")
    if getattr(args, "site", None) and not messages:  # the layers, on this rule pack
        from cdss.site import load_site

        try:
            load_site(args.site)
            _engine(args)
        except (KnowledgeError, RuleSpecError) as exc:
            messages.append(str(exc))
    for message in messages:
        print(f"error: {message}")
    for rule in rules:  # a number written twice can drift from its condition
        for where in repeated_thresholds(rule.spec):
            print(f"warning: {rule.file}: rule '{rule.id}': {where} repeats a threshold of "
                  "the rule's own condition; render it from `params` ({$name})")
    for warning in governance_warnings(rules, _today(args)):
        print(f"warning: {warning}")
    status = "ok" if not messages else f"{len(messages)} problem(s)"
    print(f"{len(rules)} rules compiled, knowledge {kb.version}: {status}")
    return EXIT_LINT if messages else 0


def facts_markdown() -> str:
    """The fact catalogue rule conditions can read, as a Markdown table."""
    from cdss.derive import fact_types
    from cdss.kb import load_knowledge

    lines = ["| fact | field | kind | unit | from | notes |", "|---|---|---|---|---|---|"]
    for t in fact_types(load_knowledge()).values():
        for name, spec in t.fields.items():
            notes = spec.description + (f" (values: {spec.vocabulary})" if spec.vocabulary
                                         else "")
            lines.append(f"| `{t.name}`{' (many)' if t.many else ''} | `{name}` | {spec.kind} | "
                         f"{spec.unit} | {spec.source or '—'} | {notes} |")
    return "\n".join(lines)


FACTS_MARKERS = ("<!-- facts:start -->\n", "\n<!-- facts:end -->")


def cmd_rules_facts(args: argparse.Namespace) -> int:
    table = facts_markdown()
    if not args.write:
        print(table)
        return 0
    path = Path(args.write)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(FACTS_MARKERS[0])
    _, _, tail = rest.partition(FACTS_MARKERS[1])
    if not rest:
        raise InputError([FieldProblem(args.write, "has no <!-- facts:start --> marker")])
    path.write_text(head + FACTS_MARKERS[0] + table + FACTS_MARKERS[1] + tail, encoding="utf-8")
    print(f"updated {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from cdss.service import serve
    except ImportError as exc:
        print(f"cdss serve needs the service extra: pip install 'cdss[service]' ({exc})",
              file=sys.stderr)
        return EXIT_CONFIG
    from cdss.service.settings import Settings

    settings = Settings.from_env(**({"site": args.site} if args.site else {}))
    if settings.site:  # a bad layer is refused here, with its file and path
        from cdss.site import load_site

        load_site(settings.site)
    serve(args.host, args.port, args.db, settings=settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdss", description="Explainable clinical decision support for primary care.")
    parser.add_argument("--version", action="version", version=f"cdss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lang", choices=("zh", "en"), default="zh", help="message language")
        p.add_argument("--rules", help=f"rules folder (default: {rules_dir()})")
        p.add_argument("--knowledge", help=f"knowledge folder (default: {knowledge_dir()})")
        p.add_argument("--site", metavar="DIR", help="a site folder of layer files "
                       "(province.yaml, county.yaml, clinic.yaml) stacked on the bundled "
                       "content (docs/site-layers.md)")
        p.add_argument("--status", action="append", choices=STATUSES, metavar="STATUS",
                       help="run only rules of this life-cycle status (repeatable; default: "
                       "production and testing)")

    check = sub.add_parser("check", help="check one encounter JSON file ('-' for stdin)")
    check.add_argument("file")
    check.add_argument("--format", choices=("json", "text", "cds-hooks"), default="json")
    common(check)
    check.set_defaults(func=cmd_check)

    ver = sub.add_parser("verify", help="re-evaluate an encounter and say whether a report "
                         "reproduces (exit 0), or not (exit 1: the differences and why)")
    ver.add_argument("report", help="a report JSON written by 'cdss check'")
    ver.add_argument("encounter", help="the encounter JSON it was computed from")
    ver.add_argument("--rules", help=f"rules folder (default: {rules_dir()})")
    ver.add_argument("--knowledge", help=f"knowledge folder (default: {knowledge_dir()})")
    ver.add_argument("--site", metavar="DIR", help="the site folder the report was made with")
    ver.set_defaults(func=cmd_verify)

    demo = sub.add_parser("demo", help="check the bundled sample encounters")
    common(demo)
    demo.set_defaults(func=cmd_demo)

    kb = sub.add_parser("kb", help="knowledge look-up: a drug by any name, ATC code or a "
                        "question that names it (exit 4 if nothing is found)")
    kb.add_argument("query", nargs="+")
    kb.add_argument("--format", choices=("text", "json"), default="text")
    common(kb)
    kb.set_defaults(func=cmd_kb)

    aud = sub.add_parser("audit", help="audit a JSONL file of encounters: tables and an "
                         "HTML report with plots in --out DIR")
    aud.add_argument("file", help="one encounter JSON per line (.jsonl)")
    aud.add_argument("--out", metavar="DIR", help="folder for the report")
    aud.add_argument("--parquet", metavar="DIR", help="Parquet tables partitioned by month "
                     "and site in DIR, re-run incrementally: only partitions whose input or "
                     "rule pack/knowledge changed are computed again (DIR/manifest.json); "
                     "with --out the report covers every partition")
    aud.add_argument("--backend", choices=backends.names(), default=backends.AUDIT_DEFAULT,
                     help=f"{backends.AUDIT_DEFAULT} (default: the rules compiled to Python, "
                     "same results), durable (durable-rules), python or another "
                     "registered backend")
    aud.add_argument("--cutoff", metavar="YYYY-MM", type=_month, help="the report compares "
                     "record compliance before this month with this month and after (e.g. "
                     "when the system was introduced)")
    aud.add_argument("--counts-only", action="store_true", help="keep counts, not one row "
                     "per suggestion (flat memory on very long files)")
    aud.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bar")
    common(aud)
    aud.set_defaults(func=cmd_audit)

    scr = sub.add_parser("screen", help="managed patients overdue or uncontrolled as of a date "
                         "(a JSON list or JSONL of {patient, history})")
    scr.add_argument("file")
    scr.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    scr.add_argument("--format", choices=("text", "json"), default="text")
    common(scr)
    scr.set_defaults(func=cmd_screen)

    rules = sub.add_parser("rules", help="list or lint the rule files")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    lst = rsub.add_parser("list", help="list the compiled rules")
    lst.add_argument("--category", choices=("diagnosis", "dosing", "quality", "followup"))
    lst.add_argument("--format", choices=("text", "json"), default="text")
    common(lst)
    lst.set_defaults(func=cmd_rules_list)
    lint = rsub.add_parser("lint", help="check every rule file and report all problems, "
                           "then build the engine in a child process")
    lint.add_argument("--timeout", type=float, default=120.0, metavar="S",
                      help="seconds the child may take to build the engine (default 120)")
    lint.add_argument("--today", metavar="YYYY-MM-DD",
                      help="judge review and expiry dates as of this day (default: today)")
    common(lint)
    lint.set_defaults(func=cmd_rules_lint)
    rtest = rsub.add_parser("test", help="run YAML rule cases (a site's or the project's "
                            "tests/cases) and print which rules they cover; exit 1 on a "
                            "failing case")
    rtest.add_argument("cases", help="a folder of case files (*.yaml)")
    rtest.add_argument("--all", action="store_true",
                       help="list every rule in the coverage table, not only those lacking "
                       "a firing case or a near miss")
    common(rtest)
    rtest.set_defaults(func=cmd_rules_test)
    doc = rsub.add_parser("doc", help="a Markdown table of the rules of a category")
    doc.add_argument("category", choices=("diagnosis", "dosing", "quality", "followup"))
    doc.add_argument("--write", metavar="FILE", help="write it to FILE")
    common(doc)
    doc.set_defaults(func=cmd_rules_doc)
    facts = rsub.add_parser("facts", help="print the fact fields rules can read (Markdown)")
    facts.add_argument("--write", metavar="DOC", help="replace the table between the "
                       "facts markers of a Markdown file")
    facts.set_defaults(func=cmd_rules_facts)

    site = sub.add_parser("site", help="what a site's layers change and their impact")
    ssub = site.add_subparsers(dest="site_command", required=True)
    sdiff = ssub.add_parser("diff", help="each layer against the layers under it; with "
                            "--upstream-rules, the upstream changes that touch its overrides")
    sdiff.add_argument("site_dir", help="a site folder (province/county/clinic.yaml)")
    sdiff.add_argument("--upstream-rules", metavar="DIR",
                       help="the rules folder the layers were written against")
    sdiff.add_argument("--upstream-knowledge", metavar="DIR",
                       help="the knowledge folder the layers were written against")
    sdiff.add_argument("--rules", help=f"rules folder (default: {rules_dir()})")
    sdiff.add_argument("--knowledge", help=f"knowledge folder (default: {knowledge_dir()})")
    sdiff.set_defaults(func=cmd_site_diff)
    simp = ssub.add_parser("impact", help="replay past encounters (JSONL) under two "
                           "configurations: alerts per rule, severity and physician")
    simp.add_argument("visits", help="a JSONL file of encounters")
    simp.add_argument("--before", default="national", metavar="SITE",
                      help="a site folder, or 'national' (default)")
    simp.add_argument("--after", required=True, metavar="SITE",
                      help="a site folder, or 'national'")
    simp.add_argument("--out", metavar="DIR", help="also write the tables as CSV")
    simp.add_argument("--lang", choices=("zh", "en"), default="zh")
    simp.add_argument("--rules", help=f"rules folder (default: {rules_dir()})")
    simp.add_argument("--knowledge", help=f"knowledge folder (default: {knowledge_dir()})")
    simp.set_defaults(func=cmd_site_impact)

    srv = sub.add_parser("serve", help="run the CDS Hooks 2.0 service (needs cdss[service]; "
                         "see docs/service.md)")
    srv.add_argument("--host", default="127.0.0.1", help="bind address (JWT auth is on for "
                     "any address but loopback)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--db", default=None, metavar="URL", help="feedback database URL "
                     "(default: an embedded SQLite file; postgresql://... for a county)")
    srv.add_argument("--site", metavar="DIR", help="a site folder of layer files "
                     "(docs/site-layers.md; or CDSS_SERVICE_SITE)")
    srv.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cdss`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"cdss: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (RuleSpecError, KnowledgeError) as exc:
        print(f"cdss: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CdssError as exc:
        print(f"cdss: error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the CLI never shows a bare traceback
        if os.environ.get("CDSS_DEBUG"):
            raise
        print(f"cdss: internal error: {type(exc).__name__}: {exc} "
              "(set CDSS_DEBUG=1 for a traceback; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
