"""`workbench eval ...`: evaluation suites, promptfoo import/export, evaluation runs, release gates."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.errors import InvalidInput
from workbench.commands import context



def _read(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"The {what} file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The {what} file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidInput(f"The {what} file {path} cannot be read ({exc.strerror}).") from None


def parse_check(text: str) -> dict:
    """NAME, NAME:{json params} or a JSON object {"check": ..., "params": ...}."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            raise InvalidInput(f"The check {text!r} is not valid JSON.") from None
    name, sep, params = text.partition(":")
    if not sep:
        return {"check": name}
    try:
        value = json.loads(params)
    except ValueError:
        raise InvalidInput(f"The parameters of check {name!r} are not valid JSON: {params!r}.") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"The parameters of check {name!r} must be a JSON object.")
    return {"check": name, "params": value}


def _cases_file(path: str):
    from core.evaluation.suites import CaseIn

    cases = []
    for n, line in enumerate(_read(path, "cases").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InvalidInput(f"Line {n} of {path} is not valid JSON.") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"Line {n} of {path} is not a JSON object.")
        variables = record.get("vars") if isinstance(record.get("vars"), dict) else {
            k: v for k, v in record.items() if k not in ("reference", "checks", "description")}
        cases.append(CaseIn(variables=variables, reference=record.get("reference"), checks=record.get("checks") or [],
                            description=record.get("description")))
    return cases


def _print_suite(suite, as_json: bool, with_cases: bool = False) -> None:
    if as_json:
        context.print_json(suite.to_dict(with_cases=with_cases))
        return
    print(f"{suite.ref}: {suite.case_count} cases, checks: {', '.join(c['label'] for c in suite.checks) or 'per case'}"
          + (f", prompt {suite.prompt}" if suite.prompt else "")
          + (f", from {suite.dataset_version}" if suite.dataset_version else ""))
    if with_cases:
        for case in suite.cases:
            print(f"  {case.position + 1}. {json.dumps(case.variables, ensure_ascii=False)[:100]}"
                  + (f"  checks: {', '.join(c['label'] for c in case.checks)}" if case.checks else ""))


def cmd_suites_create(args) -> int:
    from core.evaluation import suites

    checks = [parse_check(c) for c in args.check or ()]
    store = context.open_store()
    actor = context.actor_of(args, store)
    if bool(args.dataset) == bool(args.cases):
        raise InvalidInput("Give the cases with --dataset NAME@N or --cases FILE.jsonl (one of them).")
    if args.dataset:
        suite = suites.suite_from_dataset(store, actor=actor, name=args.name, dataset_version=args.dataset,
                                          checks=checks, prompt=args.prompt, reference_column=args.reference_column,
                                          rows=args.rows, input_column=args.input_variable,
                                          description=args.description)
    else:
        suite = suites.create_suite(store, actor=actor, name=args.name, cases=_cases_file(args.cases), checks=checks,
                                    prompt=args.prompt, description=args.description,
                                    settings={"input_variable": args.input_variable} if args.input_variable else None)
    _print_suite(suite, args.json)
    return 0


def cmd_suites_list(args) -> int:
    from core.evaluation import suites

    store = context.open_store()
    found = suites.list_suites(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([s.to_dict() for s in found])
    elif not found:
        print("No evaluation suite yet; create one with `workbench eval suites create` or `workbench eval "
              "import-promptfoo`.")
    else:
        context.print_table([{"suite": s.ref, "cases": s.case_count, "checks": len(s.checks), "prompt": s.prompt or "",
                           "source": s.source, "by": s.created_by} for s in found])
    return 0


def cmd_suites_show(args) -> int:
    from core.evaluation import suites

    store = context.open_store()
    _print_suite(suites.get_suite(store, actor=context.actor_of(args, store), ref=args.ref), args.json, with_cases=True)
    return 0


def cmd_import_promptfoo(args) -> int:
    from core.evaluation import promptfoo

    text = _read(args.file, "promptfoo")
    store = context.open_store()
    result = promptfoo.import_text(store, actor=context.actor_of(args, store), text=text, name=args.name, prompt=args.prompt)
    if args.json:
        context.print_json(result.to_dict())
    else:
        print(f"Imported {result.suite.case_count} cases as {result.suite.ref}"
              + (f"; prompt {result.suite.prompt}" if result.suite.prompt else ""))
        if result.unsupported:
            print("Not imported (no matching check): " + ", ".join(f"{k} x{n}" for k, n in result.skipped.items()))
    return 0


def cmd_export_promptfoo(args) -> int:
    from core.evaluation import promptfoo, suites
    from core.prompts import templates

    store = context.open_store()
    actor = context.actor_of(args, store)
    suite = suites.get_suite(store, actor=actor, ref=args.ref)
    body = templates.get_version(store, actor=actor, ref=suite.prompt).body if suite.prompt else None
    text, missing = promptfoo.export_suite(suite, prompt_body=body)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        context.print_json({"suite": suite.ref, "file": args.out, "not_exported": missing,
                         **({} if args.out else {"yaml": text})})
    else:
        if not args.out:
            print(text, end="")
        if missing:
            print(f"Not exported (promptfoo has no such assert): {', '.join(missing)}", file=sys.stderr)
    return 0


def _settings(args):
    from core.inference.generate import GenerationSettings

    return GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature)


def cmd_run(args) -> int:
    from core.evaluation import jobs, runs

    store = context.open_store()
    actor = context.actor_of(args, store)
    if args.here:
        run = runs.run_evaluation(store, actor=actor, suite=args.suite, models=args.model, judge=args.judge,
                                  baseline=args.baseline, settings=_settings(args))
        _print_report(runs.report(store, actor=actor, run_id=run.id), args.json)
        return 0 if run.status == "succeeded" else 1
    from workbench.commands.jobs import print_submitted

    job, run = jobs.submit_evaluation(store, actor=actor, suite=args.suite, models=args.model, judge=args.judge,
                                      baseline=args.baseline, settings=_settings(args))
    if not args.wait:
        if args.json:
            context.print_json({"id": run.id, "job": job.id, "status": job.status, "suite": run.suite,
                             "models": run.models})
        else:
            print(f"Evaluation run {run.id} of {run.suite} queued as job {job.id}.")
            print_submitted(job, False)
        return 0
    from core.jobs import actions

    done = actions.wait(store, actor=actor, job_id=job.id)
    finished = runs.get_run(store, actor=actor, run_id=run.id, with_results=False)
    if finished.status != "succeeded":
        raise InvalidInput(f"Evaluation run {run.id} {finished.status}: {finished.error or done.error or 'no reason given'}")
    _print_report(runs.report(store, actor=actor, run_id=run.id), args.json)
    return 0


def _print_report(shown: dict, as_json: bool) -> None:
    if as_json:
        context.print_json(shown)
        return
    print(f"Evaluation run {shown['id']} of {shown['suite']}: {shown['status']}")
    rows = []
    for model in shown["models"]:
        for check in model["checks"]:
            rate = check["pass_rate"]
            low, high = check["pass_rate_ci"]
            rows.append({"model": model["model"], "check": check["check"], "passed": check["passed"],
                         "failed": check["failed"], "pass rate": "" if rate is None else f"{rate:.0%}",
                         "95% CI": "" if low is None else f"{low:.0%}-{high:.0%}",
                         "mean": "" if check["mean"] is None else f"{check['mean']:.3g}"})
    if rows:
        context.print_table(rows)
    for model, flips in (shown.get("flipped") or {}).items():
        regressions = sum(1 for f in flips if f["kind"] == "regression")
        print(f"{model}: {regressions} regression(s), {len(flips) - regressions} improvement(s) vs {shown['baseline']}")


def cmd_show(args) -> int:
    from core.evaluation import runs

    store = context.open_store()
    _print_report(runs.report(store, actor=context.actor_of(args, store), run_id=args.run), args.json)
    return 0


def cmd_runs(args) -> int:
    from core.evaluation import runs

    store = context.open_store()
    found = runs.list_runs(store, actor=context.actor_of(args, store), suite=args.suite)
    if args.json:
        context.print_json([r.to_dict() for r in found])
    else:
        context.print_table([{"id": r.id, "suite": r.suite, "models": ", ".join(r.models), "status": r.status,
                           "progress": f"{r.done}/{r.total}", "by": r.created_by,
                           "at": f"{r.created_at:%Y-%m-%d %H:%M}"} for r in found])
    return 0


def cmd_cancel(args) -> int:
    from core.evaluation import runs

    store = context.open_store()
    run = runs.cancel_run(store, actor=context.actor_of(args, store), run_id=args.run)
    context.print_json(run.to_dict()) if args.json else print(f"Evaluation run {run.id}: {run.status} (cancel asked).")
    return 0


def _rules(args):
    from core.evaluation.gates import GateRules

    return GateRules(max_pass_rate_drop=None if args.no_pass_rate else args.max_drop, confidence=args.confidence,
                     safety_regressions=None if args.no_safety else args.safety_regressions,
                     min_judge_win_rate=None if args.no_judge else args.min_win_rate)


def _print_gate(result, as_json: bool) -> None:
    if as_json:
        context.print_json(result.to_dict())
        return
    state = "PASSED" if result.passed else ("FAILED, overridden by " + result.override_by if result.override_by
                                            else "FAILED")
    print(f"Gate result {result.id}: {state} — {result.candidate} vs {result.baseline} on {result.suite}")
    for rule in result.rules:
        print(f"  {'ok  ' if rule['passed'] else 'FAIL'} {rule['rule']}: {rule['detail']}")


def cmd_gate_set(args) -> int:
    from core.evaluation import gates

    store = context.open_store()
    config = gates.set_gate(store, actor=context.actor_of(args, store), deployment=args.deployment, suite=args.suite,
                            rules=_rules(args), judge=args.judge)
    context.print_json(config.to_dict()) if args.json else print(
        f"Promotions of {config.deployment} now pass the gate on {config.suite} first.")
    return 0


def cmd_gate_run(args) -> int:
    from core.evaluation import gates

    store = context.open_store()
    result = gates.run_gate(store, actor=context.actor_of(args, store), suite=args.suite, candidate=args.candidate,
                            baseline=args.baseline, rules=_rules(args), judge=args.judge, settings=_settings(args))
    _print_gate(result, args.json)
    return 0 if result.passed else 1


def cmd_gate_list(args) -> int:
    from core.evaluation import gates

    store = context.open_store()
    found = gates.list_results(store, actor=context.actor_of(args, store), deployment=args.deployment)
    if args.json:
        context.print_json([r.to_dict() for r in found])
    else:
        context.print_table([{"id": r.id, "candidate": r.candidate, "baseline": r.baseline, "suite": r.suite,
                           "passed": r.passed, "override": r.override_by or "", "at": f"{r.created_at:%Y-%m-%d %H:%M}"}
                          for r in found])
    return 0


def cmd_gate_override(args) -> int:
    from core.evaluation import gates

    store = context.open_store()
    _print_gate(gates.override_gate(store, actor=context.actor_of(args, store), result_id=args.result, reason=args.reason),
                args.json)
    return 0


def cmd_slice(args) -> int:
    from core.evaluation import bias

    store = context.open_store()
    report = bias.slice_run(store, actor=context.actor_of(args, store), run_id=args.run, model=args.model, by=args.by,
                            check=args.check, use="value" if args.mean else "passed")
    if args.json:
        context.print_json(report.to_dict())
    else:
        print(f"{report.metric} by {report.by}: largest difference {report.difference}, ratio {report.ratio}")
        context.print_table(report.groups)
    return 0


def cmd_counterfactual(args) -> int:
    from core.evaluation import bias

    swaps = None
    if args.swaps:
        try:
            swaps = [tuple(pair) for pair in json.loads(_read(args.swaps, "swaps"))]
        except (ValueError, TypeError):
            raise InvalidInput("The swaps file must be a JSON list of [term, term] pairs.") from None
    store = context.open_store()
    report = bias.run_counterfactual(store, actor=context.actor_of(args, store), suite=args.suite, model=args.model,
                                     swaps=swaps, settings=_settings(args))
    if args.json:
        context.print_json(report.to_dict())
    else:
        print(f"{report.pairs} pairs: refusal changed {report.refusal_changed}, pass changed {report.pass_changed}, "
              f"mean length change {report.mean_length_change}, mean sentiment change {report.mean_sentiment_change}")
    return 0


def cmd_card(args) -> int:
    from core.governance import model_cards

    store = context.open_store()
    actor = context.actor_of(args, store)
    if args.intended_use is not None or args.limitations is not None:
        current = model_cards.build_card(store, actor=actor, model=args.model)
        model_cards.set_card_text(store, actor=actor, model=args.model,
                                  intended_use=current["intended_use"] if args.intended_use is None else args.intended_use,
                                  limitations=current["limitations"] if args.limitations is None else args.limitations)
    if args.deployment:
        name, _, number = args.deployment.partition("@")
        if not number.isdigit():
            raise InvalidInput("Give the deployment version as NAME@N.")
        card = model_cards.frozen_card(store, actor=actor, deployment=name, version=int(number))
        if card is None:
            raise InvalidInput(f"{args.deployment} has no frozen card yet; it is frozen when the version is promoted.")
    else:
        card = model_cards.build_card(store, actor=actor, model=args.model)
    if args.json:
        context.print_json(card)
        return 0
    text = model_cards.to_html(card) if args.format == "html" else model_cards.to_markdown(card)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"Wrote {args.out}")
    else:
        print(text)
    return 0


def _rule_options(command) -> None:
    command.add_argument("--max-drop", type=float, default=0.01,
                         help="Largest pass-rate drop allowed vs the baseline, as a fraction (0.01 = 1 point).")
    command.add_argument("--confidence", type=float, default=0.95)
    command.add_argument("--safety-regressions", type=int, default=0, help="Safety-check regressions allowed.")
    command.add_argument("--min-win-rate", type=float, default=0.5, help="Judge win rate to beat (pairwise judge).")
    command.add_argument("--no-pass-rate", action="store_true", help="Switch the pass-rate rule off.")
    command.add_argument("--no-safety", action="store_true", help="Switch the safety rule off.")
    command.add_argument("--no-judge", action="store_true", help="Switch the judge win-rate rule off.")
    command.add_argument("--judge", help="The judge model for rubric and pairwise checks.")


def register(commands, add) -> None:
    group = commands.add_parser("eval", help="Evaluation suites, runs and release gates.",
                                description="Evaluation suites, runs and release gates.")
    sub = group.add_subparsers(dest="eval_command", metavar="ACTION", parser_class=context.Parser, required=True)
    suites_group = sub.add_parser("suites", help="Evaluation suites.", description="Evaluation suites.")
    suites_sub = suites_group.add_subparsers(dest="suites_command", metavar="ACTION", parser_class=context.Parser,
                                             required=True)
    create = add(suites_sub, "create", cmd_suites_create, "Save a suite (a new version when the name exists).")
    create.add_argument("name")
    create.add_argument("--dataset", metavar="NAME@N", help="Cases from the rows of this dataset version.")
    create.add_argument("--rows", type=int, help="Use the first N rows of the dataset version.")
    create.add_argument("--reference-column", help="The dataset column holding the reference answer.")
    create.add_argument("--cases", metavar="FILE.jsonl",
                        help="Cases from a JSONL file: variables, with optional reference, checks and description.")
    create.add_argument("--prompt", metavar="TEMPLATE@VERSION", help="The prompt template version cases fill in.")
    create.add_argument("--input-variable", help="Without --prompt: the variable that is the user message.")
    create.add_argument("--check", action="append", metavar="NAME[:JSON]",
                        help='A check for every case, e.g. contains:{"value":"refund"}; repeatable.')
    create.add_argument("--description")
    add(suites_sub, "list", cmd_suites_list, "List suites (latest versions).")
    show = add(suites_sub, "show", cmd_suites_show, "Show a suite version with its cases.")
    show.add_argument("ref", metavar="NAME[@VERSION]")
    imp = add(sub, "import-promptfoo", cmd_import_promptfoo,
              "Import the tests of a promptfooconfig.yaml as a suite; unsupported assert types are reported.")
    imp.add_argument("file")
    imp.add_argument("--name", required=True, help="The suite's name.")
    imp.add_argument("--prompt", metavar="TEMPLATE@VERSION", help="Use this prompt instead of the file's first one.")
    exp = add(sub, "export-promptfoo", cmd_export_promptfoo, "Write a suite as a promptfooconfig.yaml.")
    exp.add_argument("ref", metavar="NAME[@VERSION]")
    exp.add_argument("--out", help="Write to this file instead of standard output.")
    run = add(sub, "run", cmd_run, "Evaluate one or more models on a suite (a job).")
    run.add_argument("suite", metavar="SUITE[@VERSION]")
    run.add_argument("--model", action="append", required=True,
                     help="A registered chat model, adapter or deployment:NAME[@V]; repeatable.")
    run.add_argument("--judge", help="The registered chat model that judges (rubric and pairwise checks).")
    run.add_argument("--baseline", help="The model the others are compared with (default: the first).")
    run.add_argument("--max-new-tokens", type=int, default=128)
    run.add_argument("--temperature", type=float, default=0.0)
    run.add_argument("--wait", action="store_true", help="Return when the run has ended and print its results.")
    run.add_argument("--here", action="store_true", help="Run in this process instead of as a job (implies --wait).")
    show_run = add(sub, "show", cmd_show, "Show a run: pass rates per model and check, and every case.")
    show_run.add_argument("run", type=int)
    runs_list = add(sub, "runs", cmd_runs, "List evaluation runs, newest first.")
    runs_list.add_argument("--suite", metavar="NAME[@VERSION]")
    cancel = add(sub, "cancel", cmd_cancel, "Cancel a queued or running evaluation.")
    cancel.add_argument("run", type=int)
    gate = sub.add_parser("gate", help="Release gates.", description="Release gates.")
    gate_sub = gate.add_subparsers(dest="gate_command", metavar="ACTION", parser_class=context.Parser, required=True)
    gate_set = add(gate_sub, "set", cmd_gate_set, "Make promotions of a deployment pass a gate on a suite first.")
    gate_set.add_argument("deployment")
    gate_set.add_argument("--suite", required=True)
    _rule_options(gate_set)
    gate_run = add(gate_sub, "run", cmd_gate_run, "Compare a candidate with a baseline on a suite (exit 1 if it fails).")
    gate_run.add_argument("suite")
    gate_run.add_argument("--candidate", required=True, help="A model, adapter or deployment:NAME@V.")
    gate_run.add_argument("--baseline", required=True, help="A model, adapter or deployment:NAME@V.")
    gate_run.add_argument("--max-new-tokens", type=int, default=128)
    gate_run.add_argument("--temperature", type=float, default=0.0)
    _rule_options(gate_run)
    gate_list = add(gate_sub, "list", cmd_gate_list, "List gate results, newest first.")
    gate_list.add_argument("--deployment")
    override = add(gate_sub, "override", cmd_gate_override, "Let a failed gate through (admins; the reason is audited).")
    override.add_argument("result", type=int)
    override.add_argument("--reason", required=True)
    slice_cmd = add(sub, "slice", cmd_slice, "A run's results for one model by a case variable (cohort).")
    slice_cmd.add_argument("run", type=int)
    slice_cmd.add_argument("--model", required=True)
    slice_cmd.add_argument("--by", required=True, help="The case variable holding the cohort, e.g. segment.")
    slice_cmd.add_argument("--check", help="A check's label (default: the case pass rate).")
    slice_cmd.add_argument("--mean", action="store_true", help="The check's mean value instead of its pass rate.")
    probe = add(sub, "counterfactual", cmd_counterfactual,
                "Swap demographic terms in a suite's cases, answer both versions, report the changes.")
    probe.add_argument("suite")
    probe.add_argument("--model", required=True)
    probe.add_argument("--swaps", help='A JSON file of [term, term] pairs (default: the built-in list).')
    probe.add_argument("--max-new-tokens", type=int, default=128)
    probe.add_argument("--temperature", type=float, default=0.0)
    card = add(sub, "card", cmd_card, "A model's card (Markdown, HTML or JSON); edit its intended use and limitations.")
    card.add_argument("model")
    card.add_argument("--deployment", metavar="NAME@N", help="The card frozen when this deployment version was promoted.")
    card.add_argument("--format", choices=("md", "html"), default="md")
    card.add_argument("--out", help="Write to this file.")
    card.add_argument("--intended-use", help="Set the intended-use text first.")
    card.add_argument("--limitations", help="Set the limitations text first.")
