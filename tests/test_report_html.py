"""`galzoo report` with no arguments: one Markdown report and one self-contained HTML page of every study,
from the workspace's DAG outputs and the DVC experiments, each score beside its paper and its baseline."""
import json
import re
import shutil
import subprocess

import pytest
import yaml
from PIL import Image

from galzoo import report
from galzoo.cli import main
from galzoo.evaluation.classification import HEADLINE
from galzoo.report_html import CONTENT_SECURITY_POLICY, markdown_to_html

IDS = [str(100000 + i) for i in range(40)]
ACTUAL = ["spiral"] * 20 + ["edge-on"] * 20
HEAD, ALEXNET, VGG, EFFNET = "a" * 40, "b" * 40, "c" * 40, "d" * 40
CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
                None)


def png(path, width=40, height=30):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (200, 30, 30)).save(path)
    return path.read_bytes()


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def predictions_csv(predicted, ids=IDS) -> str:
    rows = [f"{i},{a},{p}" for i, a, p in zip(ids, ACTUAL, predicted)]
    return "\n".join(["GalaxyID,actual,predicted", *rows]) + "\n"


def classifier(model, accuracy, baseline=True):
    metrics = {"model": model, "task": "gz2_5class", "seed": 2016, "budget": "embedded", "n_test": 40,
               "accuracy": accuracy, "macro_precision": accuracy, "macro_recall": accuracy, "macro_f1": accuracy,
               "auc": 0.8, "ci95": {k: {"low": accuracy - 0.1, "high": accuracy + 0.1} for k in HEADLINE}}
    if baseline:
        metrics["baseline"] = {"name": "majority class", "class": "spiral", "accuracy": 0.5, "macro_f1": 0.333}
    return metrics


def scale_metrics(mse, baseline):
    deterministic = {"mse": mse, "rmse": mse ** 0.5, **{f"rmse_q{q}": 0.1 for q in range(1, 12)}}
    metrics = {"model": "kabani_maxout", "n_test": 200, "deterministic": deterministic,
               "nondeterministic": {"mse": mse + 0.001, "rmse": (mse + 0.001) ** 0.5}}
    return {**metrics, "baseline": baseline} if baseline else metrics


def node(rev, name, metrics, params=None):
    return {"rev": rev, "name": name, "error": None,
            "data": {"metrics": {report.TEST_METRICS: {"data": metrics}},
                     "params": {"params.yaml": {"data": params or {}}}}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder after `dvc repro` and a small sweep: the scale study, the default model (dai_resnet26,
    right on 36 of 40 test galaxies), a saved Perseus run, figures; experiments alexnet (always 'spiral', the
    majority class), vgg16 (scored before per-galaxy predictions and baselines existed) and efficientnet_b0."""
    root = tmp_path / "project"
    write_json(root / "metrics/scale_study/normalized.json",
               scale_metrics(0.010, {"name": "training mean", "mse": 0.012, "rmse": 0.1095}))
    write_json(root / "metrics/scale_study/crop64.json", scale_metrics(0.0113, None))
    (root / "params.yaml").write_text(yaml.safe_dump({"model": "dai_resnet26", "task": "gz2_5class", "seed": 2016}))
    write_json(root / report.TEST_METRICS, classifier("dai_resnet26", 0.9))
    (root / report.TEST_PREDICTIONS).parent.mkdir(parents=True, exist_ok=True)
    (root / report.TEST_PREDICTIONS).write_text(predictions_csv(["spiral"] * 24 + ["edge-on"] * 16))
    perseus = root / "metrics/perseus/perseus-colour-indep"
    write_json(perseus / "test.json", {
        "model": "resnet50", "task": "perseus_member", "seed": 2016, "budget": "embedded", "greyscale": False,
        "input_size": 64, "test_images": {"n": 896, "accuracy": 0.91, "macro_f1": 0.91, "member_f1": 0.92},
        "independent": {"n": 213, "accuracy": 0.81}, "accuracy": 0.91, "macro_f1": 0.91, "member_f1": 0.92,
        "baseline": {"name": "majority class", "class": "member", "accuracy": 0.5, "macro_f1": 0.333}})
    write_json(perseus / "split_counts.json", {"selection": [{"step": "balanced random sample"}]})
    for figure in ("plots/loss_per_scale.png", "plots/model/confusion_matrix.png", "plots/model/roc.png",
                   "plots/model/filters.png",
                   "plots/perseus/resnet50_perseus_member_colour_no_spectroscopic_additions_seed2016_roc.png",
                   "plots/comparison/inception_v3_gz2_5class_seed7_roc.png", "plots/misc/unrelated.png"):
        png(root / figure)
    committed = {
        (ALEXNET, "plots/model/confusion_matrix.png"): png(tmp_path / "blobs/a.png", 50, 20),
        (ALEXNET, "plots/model/roc.png"): png(tmp_path / "blobs/b.png", 60, 20),
        (ALEXNET, report.TEST_PREDICTIONS): predictions_csv(["spiral"] * 40).encode(),
        (EFFNET, "plots/model/predicted_vs_true.png"): png(tmp_path / "blobs/c.png"),
        (EFFNET, "plots/model/gallery.png"): png(tmp_path / "blobs/d.png"),
    }
    effnet = {"model": "efficientnet_b0", "task": "votes37", "seed": 2016, "budget": "embedded",
              "pretrained": "none", "rmse": 0.12, "val_rmse": 0.11, "n_test": 200, "n_val": 200,
              "baseline": {"name": "training mean", "rmse": 0.2, "mse": 0.04}}
    head = node(HEAD, "main", classifier("dai_resnet26", 0.9))
    head["experiments"] = [{"name": n["name"], "revs": [n]} for n in (
        node(ALEXNET, "exp-alex", classifier("alexnet", 0.5)),
        node(VGG, "exp-vgg", classifier("vgg16", 0.45, baseline=False)),
        node(EFFNET, "exp-effnet", effnet, {"efficientnet": {"output_layer": "mlp_sigmoid"}}))]
    monkeypatch.setattr(report, "read_exp_show", lambda repo: [{"rev": "workspace", "data": {}}, head])
    monkeypatch.setattr(report, "_git_show", lambda repo, rev, path: committed.get((rev, path)))
    monkeypatch.chdir(root)
    return root, committed


def test_no_arguments_write_one_markdown_report_of_every_study(project, capsys):
    root, _ = project
    assert main(["report"]) == 0
    text = (root / "reports/report.md").read_text()
    assert capsys.readouterr().out.strip() == text.strip()
    # the scale study from the workspace, the deterministic MSE beside the paper's and the training mean's
    assert "| normalized | kabani_maxout | 200 | 0.01 | 0.0084 | 0.012 | 0.011 | 0.1 | 0.1095 |" in text
    assert "| crop64 | kabani_maxout | 200 | 0.0113 | 0.01 | n/a |" in text
    # the CNN comparison: the workspace's run and two experiments, the paper and the majority class beside
    assert ("| dai_resnet26 | 2016 | n/a | 90.00 ± 0.00 | 90.00 [80.0, 100.0] | 94.69 | 95.21 | 50.00 (spiral) | "
            "yes (1/1 seeds) |") in text
    assert ("| alexnet | 2016 | n/a | 50.00 ± 0.00 | 50.00 [40.0, 60.0] | 91.82 | 92.26 | 50.00 (spiral) | "
            "no (0/1 seeds) |") in text
    assert "| vgg16 | 2016 | n/a | 45.00 ± 0.00 | 45.00 [35.0, 55.0] | 93.13 | 93.65 | n/a | n/a |" in text
    # the 37 vote fractions and Perseus, each beside its baseline
    assert ("| efficientnet_b0 | mlp_sigmoid | embedded | none | 2016 | 0.1100 ± 0.0000 | 0.1200 ± 0.0000 | "
            "0.1200 | 0.0814 | 0.0810 | 0.2000 |") in text
    assert "| resnet50 | 64 px colour, no spectroscopic additions | embedded | 2016 | 896 |" in text
    assert "| 0.500 | 0.333 |" in text
    # sections in the contents, linked to GitHub's anchors
    assert "- [How important is scale? (Kabani & El-Sakka 2016)](#how-important-is-scale-kabani--el-sakka-2016)" in text


def test_the_cnn_comparison_says_which_differences_are_more_than_test_set_luck(project):
    root, _ = project
    assert main(["report"]) == 0
    text = (root / "reports/report.md").read_text()
    significance = text[text.index("are the differences real?"):text.index("# The 37 vote fractions")]
    rows = [line for line in significance.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[:4] for row in rows] == [
        ["| dai_resnet26", "alexnet", "2016", "+40.00"],  # best first; vgg16 has no per-galaxy predictions
        ["| dai_resnet26", "majority class", "2016", "+40.00"],
        ["| alexnet", "majority class", "2016", "+0.00"]]
    assert rows[0].endswith("| significant |") and rows[1].endswith("| significant |")
    assert rows[2].endswith("| [+0.00, +0.00] | not significant |")
    assert "no per-galaxy predictions (re-run evaluate_model): vgg16 seed 2016 (exp-vgg)" in significance


def test_every_figure_is_in_the_report_once_with_its_run(project):
    root, _ = project
    assert main(["report"]) == 0
    text = (root / "reports/report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(images) == sorted([
        "../plots/loss_per_scale.png",
        "../plots/model/confusion_matrix.png", "../plots/model/roc.png", "../plots/model/filters.png",
        "figures/alexnet_gz2_5class_seed2016_confusion_matrix.png", "figures/alexnet_gz2_5class_seed2016_roc.png",
        "../plots/comparison/inception_v3_gz2_5class_seed7_roc.png",
        "figures/efficientnet_b0_votes37_mlp_sigmoid_seed2016_predicted_vs_true.png",
        "figures/efficientnet_b0_votes37_mlp_sigmoid_seed2016_gallery.png",
        "../plots/perseus/resnet50_perseus_member_colour_no_spectroscopic_additions_seed2016_roc.png",
        "../plots/misc/unrelated.png"])
    assert (root / "reports/figures/alexnet_gz2_5class_seed2016_roc.png").is_file()  # copied out of its commit
    assert "Not found: `plots/model/confusion_matrix.png`, `plots/model/roc.png` (experiment exp-vgg, ccccccc)." in text
    perseus = text[text.index("# Perseus"):]
    assert "resnet50_perseus_member_colour_no_spectroscopic_additions_seed2016_roc.png" in perseus


def test_the_html_page_inlines_every_figure_and_references_nothing_outside(project):
    root, _ = project
    assert main(["report"]) == 0
    page = (root / "reports/report.html").read_text()
    n_images = len(re.findall(r"!\[", (root / "reports/report.md").read_text()))
    assert len(re.findall(r"<img ", page)) == n_images == 11
    attributes = re.findall(r'\b(src|href)="([^"]*)"', page)
    assert [v for k, v in attributes if k == "src" and not v.startswith("data:image/png;base64,")] == []
    assert [v for k, v in attributes if k == "href" and not v.startswith("#")] == []
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert f'content="{CONTENT_SECURITY_POLICY}"' in page
    assert 'id="how-important-is-scale-kabani--el-sakka-2016"' in page


def test_a_link_or_figure_outside_the_page_cannot_get_into_the_html(tmp_path):
    page = markdown_to_html("[docs](https://example.org/x) and [up](#top) <img src=http://x>",
                            base_dir=tmp_path, title="t")
    assert 'href="https://example.org/x"' not in page and '<a href="#top">' in page and "<img" not in page
    with pytest.raises(report.GalzooError, match="inlines local files only"):
        markdown_to_html("![x](https://example.org/x.png)", base_dir=tmp_path, title="t")
    png(tmp_path / "a folder (é)" / "fig.png")
    lines = report.figure_lines([report.Figure(tmp_path / "a folder (é)" / "fig.png", "f")], tmp_path)
    assert lines[0] == "![f](<a folder (é)/fig.png>)"
    assert markdown_to_html("\n".join(lines), base_dir=tmp_path, title="t").count('src="data:image/png;base64,') == 1
    with pytest.raises(report.GalzooError, match="missing.png: file not found"):
        markdown_to_html("![x](missing.png)", base_dir=tmp_path, title="t")


@pytest.mark.timeout(120)
def test_every_figure_renders_in_a_headless_browser_and_nothing_is_fetched(project, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    root, _ = project
    assert main(["report"]) == 0
    page = (root / "reports/report.html").read_text()
    # the test's own probe: the widths the browser decoded, and every resource it requested
    probe = ('<script>window.addEventListener("load", () => { const b = document.body;'
             'b.dataset.widths = JSON.stringify([...document.images].map(i => i.naturalWidth));'
             'b.dataset.requests = JSON.stringify(performance.getEntriesByType("resource").map(e => e.name)); });'
             "</script></body>")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace(CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY + "; script-src 'unsafe-inline'")
                      .replace("</body>", probe))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    widths = re.search(r'data-widths="([^"]*)"', dom.stdout)
    requests = re.search(r'data-requests="([^"]*)"', dom.stdout)
    assert widths and requests, f"the probe did not run: {dom.stdout[-500:]}"
    widths = json.loads(widths.group(1).replace("&quot;", '"'))
    assert len(widths) == 11 and all(w > 0 for w in widths)
    assert json.loads(requests.group(1).replace("&quot;", '"')) == []


def test_a_study_or_a_task_gets_its_own_report_and_an_out_file_keeps_its_name(project, capsys):
    root, _ = project
    assert main(["report", "--study", "cnn_comparison", "--out", "comparison.md"]) == 0
    text = (root / "comparison.md").read_text()
    assert (root / "comparison.html").is_file() and not (root / "reports/report.md").exists()
    assert "| dai_resnet26 | 2016 |" in text and "# How important is scale?" not in text
    assert "# Perseus" not in text and "unrelated.png" not in text and "inception_v3_gz2_5class_seed7_roc" in text
    assert main(["report", "--task", "votes37"]) == 0
    assert "| efficientnet_b0 | mlp_sigmoid |" in (root / "reports/votes37.md").read_text()


def test_test_sets_that_do_not_match_are_an_error_naming_both_runs(project, capsys):
    root, committed = project
    committed[(ALEXNET, report.TEST_PREDICTIONS)] = predictions_csv(
        ["spiral"] * 40, ids=[str(200000 + i) for i in range(40)]).encode()
    assert main(["report"]) == 1
    assert re.search(r"seed 2016: dai_resnet26 seed 2016 \(workspace\) and alexnet seed 2016 \(exp-alex\) were not "
                     r"scored on the same test galaxies \(40 only in", capsys.readouterr().err)


def test_a_run_scored_before_the_per_galaxy_ids_counts_as_having_no_predictions(project):
    root, committed = project  # its confusion file has the older layout: actual,predicted without GalaxyID
    committed[(ALEXNET, report.TEST_PREDICTIONS)] = b"actual,predicted\nspiral,spiral\n"
    assert main(["report"]) == 0
    text = (root / "reports/report.md").read_text()
    assert "no per-galaxy predictions (re-run evaluate_model): alexnet seed 2016 (exp-alex)" in text


def test_a_per_galaxy_file_with_neither_layout_is_an_error_naming_it(project, capsys):
    root, committed = project
    committed[(ALEXNET, report.TEST_PREDICTIONS)] = b"galaxy,answer\n1,spiral\n"
    assert main(["report"]) == 1
    assert "exp-alex:plots/model_confusion.csv: missing column(s) GalaxyID" in capsys.readouterr().err


def test_an_empty_project_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "read_exp_show", lambda repo: [])
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 1
    assert "nothing to report in .: no experiment has metrics/model/test.json" in capsys.readouterr().err
