"""Issue #12 (items 4 and 5): interrupts never leak engine state, and a bad rule pack
is an error, never silence, a crash or a hang.

Anything that could crash or hang runs in a fresh interpreter with a timeout
(``run_isolated``), so it fails one test instead of killing the runner.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

import cdss
from cdss import cli
from cdss.errors import KnowledgeError, RuleSpecError
from cdss.kb._files import read_yaml

from conftest import minimal_rule, run_isolated, write_rules

ENC = {"id": "e", "time": "2026-11-20T09:00:00",
       "patient": {"id": "p", "sex": "male", "birth_date": "1950-01-01",
                   "allergies": [{"substance": "penicillin"}]},
       "vitals": {"sbp": 170, "dbp": 100},
       "prescriptions": [{"drug": "amoxicillin", "dose": "500 mg", "frequency": "tid"},
                         {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"},
                         {"drug": "ibuprofen", "dose": "200 mg", "frequency": "tid"}]}


def _ok(code: str, expect: str = "OK", timeout: float = 600) -> str:
    result = run_isolated(code, timeout=timeout)
    assert result.returncode == 0, (
        f"exit {result.returncode} (negative: killed by signal)\n{result.stdout[-2000:]}"
        f"\n{result.stderr[-3000:]}")
    assert expect in result.stdout, result.stdout + result.stderr
    return result.stdout


# ---- item 4: interrupts ----------------------------------------------------------

def test_random_signal_interrupts_leak_no_state_and_all_surface() -> None:
    # a SIGALRM handler raises KeyboardInterrupt at a random point of check, until
    # 1,200 have fired: more than the 1,024 leaked states after which durable-rules stops
    out = _ok(f"""
    import json, random, signal, time
    import cdss
    from cdss.errors import RuleEvaluationError
    enc = json.loads({json.dumps(json.dumps(ENC))})
    engine = cdss.Engine()
    backend = engine._backend.host
    t0 = time.perf_counter()
    for _ in range(50):
        engine.check(enc)
    mean = (time.perf_counter() - t0) / 50
    fired = caught = wrong = 0
    def handler(signum, frame):
        global fired
        fired += 1
        raise KeyboardInterrupt
    signal.signal(signal.SIGALRM, handler)
    random.seed(12)
    # until 1,200 interrupts have fired (more than the 1,024 leaked states after which
    # durable-rules stops), however loaded the machine: a timer that falls after a
    # check ends fires nothing
    i = 0
    while fired < 1200 and i < 20000:
        i += 1
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, random.uniform(1e-6, 1.2 * mean))
                engine.check(enc)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt:
            caught += 1
        except RuleEvaluationError as exc:
            wrong += 1
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    assert fired > 1100, fired
    assert caught == fired and wrong == 0, (fired, caught, wrong)
    assert backend.live_states() == 0, backend.live_states()
    # what is left in durable-rules is at most the one state kept, clean, for the next
    # check (none when the last check was interrupted inside durable-rules: its state
    # was dirty, and deleted)
    kept = backend.kept_states()
    assert backend.states_in_engine(engine._backend.ruleset_name) == kept <= 1
    assert backend.created == backend.deleted + kept > 1, (backend.created, backend.deleted)
    # interrupts landed inside durable-rules' part of a check, not only around it
    assert backend.created > 50, backend.created
    # the engine still works, and still finds the allergy
    report = engine.check(enc)
    assert any("allergy" in s.rule_id for s in report.suggestions), report.suggestions
    print("OK fired", fired, "created", backend.created)
    """)
    assert "OK fired" in out


def test_async_interrupts_from_a_thread_leak_no_state() -> None:
    # another thread raises KeyboardInterrupt in the checking thread at random times
    # (switching threads every 10 µs, so that it can land inside durable-rules' part of
    # a check, which runs on the checking thread and never waits)
    _ok(f"""
    import ctypes, json, random, sys, threading, time
    sys.setswitchinterval(1e-5)
    import cdss
    from cdss.errors import RuleEvaluationError
    enc = json.loads({json.dumps(json.dumps(ENC))})
    engine = cdss.Engine()
    backend = engine._backend.host
    main = threading.get_ident()
    t0 = time.perf_counter()
    for _ in range(50):
        engine.check(enc)
    mean = (time.perf_counter() - t0) / 50
    fired = caught = wrong = 0
    def inject(delay):
        global fired
        time.sleep(delay)
        fired += ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(main), ctypes.py_object(KeyboardInterrupt))
    random.seed(4)
    for i in range(1500):
        helper = threading.Thread(target=inject, args=(random.uniform(0, 1.2 * mean),))
        try:
            try:
                helper.start()
                engine.check(enc)
            finally:
                helper.join()
                for _ in range(20):  # let a pending interrupt land inside the try
                    pass
        except KeyboardInterrupt:
            caught += 1
        except RuleEvaluationError:
            wrong += 1
    assert caught == fired > 1000 and wrong == 0, (fired, caught, wrong)
    assert backend.live_states() == 0
    kept = backend.kept_states()
    assert backend.states_in_engine(engine._backend.ruleset_name) == kept <= 1
    assert backend.created == backend.deleted + kept > 1, (backend.created, backend.deleted)
    # interrupts landed inside durable-rules' part of a check, not only around it
    assert backend.created > 50, backend.created
    engine.check(enc)
    print("OK", fired, "created", backend.created)
    """)


def test_an_action_raising_an_interrupt_propagates_it_and_deletes_the_state() -> None:
    _ok("""
    from cdss.backends.durable.host import DurableHost
    from cdss.errors import RuleEvaluationError
    backend = DurableHost.instance()
    def stop(bound):
        raise KeyboardInterrupt
    def leave(bound):
        raise SystemExit(4)
    body = {"s": {"all": [{"m": {"t": "__sentinel__"}}], "run": "__sentinel__"},
            "k": {"all": [{"m": {"t": "a"}}], "run": "stop"},
            "x": {"all": [{"m": {"t": "b"}}], "run": "leave"},
            "ok": {"all": [{"m": {"t": "c"}}], "run": "ok"}}
    backend.register("interrupting", body, actions={"stop": stop, "leave": leave})
    for i in range(1100):  # past the 1,024 live states durable-rules allows
        try:
            backend.run("interrupting", [{"t": "c", "id": "c"}, {"t": "a", "id": "a"}])
            raise AssertionError("swallowed")
        except KeyboardInterrupt:
            pass
    try:
        backend.run("interrupting", [{"t": "b", "id": "b"}])
    except SystemExit as exc:
        assert exc.code == 4
    assert backend.live_states() == 0
    # each interrupted check deleted its state: none is kept, none is left
    assert backend.states_in_engine("interrupting") == backend.kept_states() == 0
    assert backend.run("interrupting", [{"t": "c", "id": "c"}]) == [("ok", {"m": "c"})]
    assert backend.states_in_engine("interrupting") == backend.kept_states() == 1
    print("OK")
    """)


# ---- item 5: rule packs that are not packs ---------------------------------------

def test_missing_rules_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSpecError, match="not found"):
        cdss.Engine(rules_dir="/nonexistent", backend="python")
    with pytest.raises(RuleSpecError, match="not a folder"):
        cdss.Engine(rules_dir=Path(__file__), backend="python")
    (tmp_path / "quality").mkdir()
    with pytest.raises(RuleSpecError, match="no rules found"):
        cdss.Engine(rules_dir=tmp_path, backend="python")
    (tmp_path / "quality" / "x.yaml").write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(RuleSpecError, match="no rules found"):
        cdss.Engine(rules_dir=tmp_path, backend="python")


def test_cli_check_and_lint_with_a_missing_rules_folder_exit_3(tmp_path: Path,
                                                                 capsys) -> None:
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(ENC), encoding="utf-8")
    assert cli.main(["check", str(enc), "--rules", "/nonexistent"]) == cli.EXIT_CONFIG
    assert "rules folder not found" in capsys.readouterr().err
    assert cli.main(["rules", "lint", "--rules", "/nonexistent"]) == cli.EXIT_CONFIG
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["rules", "lint", "--rules", str(empty)]) == cli.EXIT_CONFIG
    assert "0 rules compiled" not in capsys.readouterr().out


def _pack(tmp_path: Path, when_if: dict) -> Path:
    return write_rules(tmp_path, [minimal_rule(when={"r": {"fact": "record", "if": when_if}})])


def _regex_pack(tmp_path: Path, pattern: str) -> Path:
    return write_rules(tmp_path, [minimal_rule(when={"r": {"fact": "rx", "if": {
        "drug": {"matches": pattern}}}})])


@pytest.mark.parametrize(("pattern", "problem"), [
    (".*" * 150, "characters"),                 # segfaulted Engine()
    (".*" * 60, "repetition operators"),        # 127 `.*` segfault, measured
    ("a.*" * 16, "repetition operators"),       # durable error 504
    ("(" * 130 + "a" + ")" * 130, "characters"),
    ("((((((a))))))", "nested"),
    ("x" * 201, "characters"),
])
def test_regex_limits_are_rule_spec_errors_naming_file_rule_field(
        tmp_path: Path, pattern: str, problem: str) -> None:
    rules = _regex_pack(tmp_path, pattern)
    with pytest.raises(RuleSpecError, match=problem) as info:
        cdss.Engine(rules_dir=rules, backend="durable")
    err = info.value
    assert err.file.endswith("test.yaml") and err.rule_id == "quality.missing.test_rule"
    assert "rx.drug" in err.problem or ".drug." in err.problem, err.problem
    # durable's own limits (its regex automaton): the python backend runs the pattern
    assert cdss.Engine(rules_dir=rules, backend="python").rules


def test_regexes_at_the_limits_build_and_match_in_durable(tmp_path: Path) -> None:
    patterns = ["a.*b.*c.*d.*e.*f.*", "%a*%d+.*[a-z]?x*y*", "((((a|b))))" + "c" * 180,
                ".*.*.*.*.*.*"]
    for i, pattern in enumerate(patterns):
        rules = _regex_pack(tmp_path / str(i), pattern)
        _ok(f"""
        import cdss
        engine = cdss.Engine(rules_dir={str(rules)!r})
        engine.check({{"id": "e", "time": "2026-11-20T09:00:00", "patient": {{"id": "p"}},
                      "prescriptions": [{{"drug": "metformin", "dose": "500 mg",
                                          "frequency": "bid"}}]}})
        print("OK")
        """, timeout=120)


def test_an_in_list_of_500_values_is_refused_at_compile_time(tmp_path: Path) -> None:
    rules = _pack(tmp_path, {"chief_complaint_chars": {"in": list(range(500))}})
    with pytest.raises(RuleSpecError, match=r"chief_complaint_chars\.in: 500 values"):
        cdss.Engine(rules_dir=rules, backend="python")
    ok = _pack(tmp_path / "ok", {"chief_complaint_chars": {"in": list(range(64))}})
    assert cdss.Engine(rules_dir=ok, backend="python").rules


def test_alternatives_multiplied_out_are_bounded(tmp_path: Path) -> None:
    rules = _pack(tmp_path, {"all": [{"chief_complaint_chars": {"in": list(range(60))}},
                                     {"any": [{"chief_complaint_chars": {"in": [1, 2, 3]}},
                                              {"chief_complaint_chars": 4}]}]})
    with pytest.raises(RuleSpecError, match="240 alternatives"):
        cdss.Engine(rules_dir=rules, backend="durable")


def test_in_lists_across_rules_cannot_hang_registration(tmp_path: Path) -> None:
    # nine rules of 60 values each: 540 alternatives on one fact type (hung at 513)
    rules = write_rules(tmp_path, [
        minimal_rule(f"quality.missing.t{k}", when={"r": {"fact": "record", "if": {
            "chief_complaint_chars": {"in": list(range(100 * k, 100 * k + 60))}}}})
        for k in range(9)])
    # together past the limit: the durable backend splits them into rulesets within it
    # (issue #17), each registering at once; the matches are the python backend's
    _ok(f"""
    import cdss
    enc = {{"id": "e", "time": "2026-11-20T09:00:00+08:00", "patient": {{"id": "p"}},
           "record": {{"chief_complaint": "x" * 805}}}}
    durable = cdss.Engine(rules_dir={str(rules)!r}, backend="durable")
    assert len(durable._backend.ruleset_names) == 2, durable._backend.ruleset_names
    fired = [s.rule_id for s in durable.check(enc).suggestions]
    assert fired == ["quality.missing.t8"], fired
    python = cdss.Engine(rules_dir={str(rules)!r}, backend="python")
    assert [s.rule_id for s in python.check(enc).suggestions] == fired
    print("OK")
    """, timeout=120)


def test_condition_nesting_is_bounded(tmp_path: Path) -> None:
    cond: dict = {"chief_complaint_chars": 0}
    for _ in range(12):
        cond = {"all": [cond, {"chief_complaint_chars": {"ne": 5}}]}
    with pytest.raises(RuleSpecError, match="nested deeper than 8"):
        cdss.Engine(rules_dir=_pack(tmp_path, cond), backend="python")
    cond = {"chief_complaint_chars": 0}
    for k in range(4):  # 8 levels: the limit, which durable-rules registers
        cond = {"all": [{"any": [cond, {"chief_complaint_chars": k + 10}]},
                        {"chief_complaint_chars": {"ne": 5}}]}
    _ok(f"""
    import cdss
    cdss.Engine(rules_dir={str(_pack(tmp_path / "ok", cond))!r}).check(
        {{"id": "e", "time": "2026-11-20T09:00:00", "patient": {{"id": "p"}}}})
    print("OK")
    """, timeout=120)


def test_yaml_alias_bomb_in_a_template_is_refused_quickly(tmp_path: Path) -> None:
    folder = tmp_path / "rules" / "quality"
    folder.mkdir(parents=True)
    rule = yaml.safe_dump({"templates": [{"over": "drugs", "rule": minimal_rule(
        "quality.missing.t_{row.key}")}]})
    bomb = ("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" +
            "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
                    for i in range(1, 9)))
    (folder / "bomb.yaml").write_text(bomb + rule.replace(
        "references:", "notes: *a8\n    references:"), encoding="utf-8")
    out = _ok(f"""
    import cdss
    from cdss.errors import RuleSpecError
    try:
        cdss.Engine(rules_dir={str(tmp_path / "rules")!r}, backend="python")
    except RuleSpecError as exc:
        print("OK", exc)
    """, timeout=60)
    assert "alias" in out and "bomb.yaml" in out


def test_template_rule_too_large_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "rules" / "quality"
    folder.mkdir(parents=True)
    big = minimal_rule("quality.missing.t_{row.key}", notes=list(range(3000)))
    (folder / "t.yaml").write_text(yaml.safe_dump({"templates": [{"over": "drugs",
                                                                  "rule": big}]}))
    with pytest.raises(RuleSpecError, match="copied once per row"):
        cdss.Engine(rules_dir=tmp_path / "rules", backend="python")


@pytest.mark.parametrize("kind", ["not_utf8", "folder", "deep", "deep_condition"])
def test_malformed_rule_files_are_rule_spec_errors_naming_the_file(tmp_path: Path,
                                                                   kind: str) -> None:
    folder = tmp_path / "rules" / "quality"
    folder.mkdir(parents=True)
    (folder / "good.yaml").write_text(yaml.safe_dump({"rules": [minimal_rule()]}))
    bad = folder / "bad.yaml"
    if kind == "not_utf8":
        bad.write_bytes(b"rules:\n  - id: \xff\xfe\n")
    elif kind == "folder":
        bad.mkdir()
    elif kind == "deep":
        bad.write_text("rules: " + "[" * 10_000 + "]" * 10_000 + "\n")
    else:
        cond = "{chief_complaint_chars: 0}"
        for _ in range(2000):
            cond = f"{{all: [{cond}]}}"
        bad.write_text(yaml.safe_dump({"rules": [minimal_rule("quality.missing.deep")]})
                       .replace("{chief_complaint_chars: 0}", cond)
                       .replace("chief_complaint_chars: 0", "x: " + cond))
    with pytest.raises(RuleSpecError) as info:
        cdss.Engine(rules_dir=tmp_path / "rules", backend="python")
    assert info.value.file.endswith("bad.yaml"), info.value


def test_knowledge_files_get_the_same_protection(tmp_path: Path) -> None:
    bomb = tmp_path / "k.yaml"
    bomb.write_text("a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join(["*a" if i == 1 else f"*a{i - 1}"] * 10) + "]\n"
        for i in range(1, 7)))
    with pytest.raises(KnowledgeError, match="alias"):
        read_yaml(bomb)
    aliases = tmp_path / "ok.yaml"
    aliases.write_text("a: &a [J01, J02]\nb: [*a, *a]\n")
    assert read_yaml(aliases) == {"a": ["J01", "J02"], "b": [["J01", "J02"]] * 2}


def test_raw_durable_errors_at_registration_are_rule_spec_errors(monkeypatch) -> None:
    from cdss.backends.durable import host

    def refuse(self, name, body, actions=None, fields=None):
        raise RuntimeError("Could not create ruleset, error code: 504")

    monkeypatch.setattr(host.DurableHost, "register", refuse)
    with pytest.raises(RuleSpecError, match="error code: 504"):
        cdss.Engine()


# ---- lint builds the engine in a child process -----------------------------------

def test_lint_reports_a_crash_or_hang_of_the_engine_build(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "_LINT_CHILD", "import os, signal; os.kill(os.getpid(), "
                        "signal.SIGSEGV)")
    assert cli.main(["rules", "lint"]) == cli.EXIT_LINT
    out = capsys.readouterr().out
    assert "crashed the process (signal 11)" in out and "rules" in out
    monkeypatch.setattr(cli, "_LINT_CHILD", "import time; time.sleep(30)")
    assert cli.main(["rules", "lint", "--timeout", "1"]) == cli.EXIT_LINT
    assert "did not finish within 1 s" in capsys.readouterr().out


def test_lint_builds_the_real_engine_and_passes_the_bundled_pack(capsys) -> None:
    from cdss._resources import rules_dir

    assert cli.main(["rules", "lint"]) == 0
    assert f"{len(cdss.Engine(backend='python').rules)} rules compiled" in \
        capsys.readouterr().out
    # the bundled pack, wherever it is installed (a wheel or a checkout)
    assert cli.engine_problem(rules_dir(), None, 120) is None


def test_a_pack_that_passes_lint_does_not_crash_engine(tmp_path: Path) -> None:
    # the reproducers, through lint and then Engine() in a fresh process
    packs = [_regex_pack(tmp_path / "a", ".*" * 150),
             _pack(tmp_path / "b", {"chief_complaint_chars": {"in": list(range(500))}})]
    for rules in packs:
        out = _ok(textwrap.dedent(f"""
        import cdss
        from cdss import cli
        code = cli.main(["rules", "lint", "--rules", {str(rules)!r}])
        assert code == cli.EXIT_LINT, code
        try:
            cdss.Engine(rules_dir={str(rules)!r})
        except cdss.RuleSpecError as exc:
            print("OK", exc)
        """), timeout=120)
        assert "OK" in out
