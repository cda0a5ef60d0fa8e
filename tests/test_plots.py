"""python -m jaxcnn.tools.plots: curves, first-layer filters and the confusion matrix of a run."""

import os
import shutil

import numpy as np
import pytest

from jaxcnn import loading
from jaxcnn.tools import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_written(trained_run, tmp_path, capsys):
  workdir, metrics = trained_run
  plots.main(["--workdir", workdir, "--out", str(tmp_path)])
  out = capsys.readouterr()
  names = ("curves.png", "filters.png", "confusion.png")
  assert out.out.splitlines() == [f"wrote {tmp_path / n}" for n in names] and not out.err
  for name in names:
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG) and len(data) > 5000, name

  run = loading.load_run(workdir)
  matrix = plots.confusion_matrix(run)
  assert matrix.sum() == 300  # The whole synthetic test split...
  # ...as evaluated: the same count (any two counts differ by 1/300).
  assert np.trace(matrix) / 300 == pytest.approx(metrics["eval/top1"], abs=1e-6)
  assert plots.first_layer_kernels(run).shape == (5, 5, 1, 3)  # c1 at width 0.5


def test_filters_tile_into_a_grid():
  # 96 RGB 11x11 kernels (AlexNet's conv1): 10 columns, 10 rows, 1-pixel gaps.
  kernel = np.random.default_rng(0).standard_normal((11, 11, 3, 96))
  grid = plots.filter_grid(kernel)
  assert grid.shape == (10 * 12 + 1, 10 * 12 + 1, 3)
  assert grid.min() == 0.0 and grid.max() == 1.0
  assert grid[1:12, 1:12].max() == 1.0  # Its own (hi - lo) / (hi - lo): exactly 1.
  # Gray for one input channel.
  assert plots.filter_grid(kernel[:, :, :1, :6]).shape == (2 * 12 + 1, 3 * 12 + 1)


def test_what_a_run_lacks_is_skipped_with_the_reason(trained_run, tmp_path, capsys):
  workdir, _ = trained_run
  # An imported network has checkpoints but no training metrics.
  shutil.copytree(f"{workdir}/checkpoints", tmp_path / "imported" / "checkpoints")
  written, skipped = plots.write_plots(str(tmp_path / "imported" / "checkpoints" / "16"))
  assert [os.path.basename(p) for p in written] == ["filters.png", "confusion.png"]
  assert os.path.dirname(written[0]) == str(tmp_path / "imported" / "plots")
  assert skipped == [f"curves.png: No metrics in {tmp_path / 'imported'} (metrics.jsonl is "
                     "written by training)."]
  with pytest.raises(SystemExit) as exit_:
    plots.main(["--workdir", str(tmp_path / "nowhere")])
  assert exit_.value.code == 1
  assert "No such directory" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "nowhere")
