import flax.linen as nn
import pytest

from jaxcnn import summary
from jaxcnn import models


class Direct5x5(nn.Module):
  @nn.compact
  def __call__(self, x, *, train):
    return nn.Conv(48, (5, 5), padding=2, name="conv5x5")(x)


class Reduced5x5(nn.Module):
  @nn.compact
  def __call__(self, x, *, train):
    x = nn.Conv(16, (1, 1), name="reduce1x1")(x)
    return nn.Conv(48, (5, 5), padding=2, name="conv5x5")(x)


def total(rows):
  return next(r for r in rows if r.path == "")


def test_the_papers_1x1_bottleneck_example():
  # GoogLeNet Sec. 4's arithmetic: 480 maps at 14x14 to 48 maps.
  direct = total(summary.summarize(Direct5x5(), (1, 14, 14, 480)))
  reduced = total(summary.summarize(Reduced5x5(), (1, 14, 14, 480)))
  assert direct.macs == 14 * 14 * 48 * 5 * 5 * 480 == 112_896_000          # 112.9M
  assert reduced.macs == 14 * 14 * 16 * 480 + 14 * 14 * 48 * 5 * 5 * 16 == 5_268_480  # 5.3M


def test_lenet5_rows_match_the_papers_connections():
  rows = {r.path: r for r in summary.summarize(models.create("lenet5"), (1, 32, 32, 1))}
  assert rows["c1"].output == (1, 28, 28, 6) and rows["c1"].macs == 28 * 28 * 6 * 25  # 117,600
  assert rows["c3"].macs == 10 * 10 * 60 * 25       # 60 connected 5x5 kernels: 150,000
  assert rows["c5"].macs == 120 * 400 and rows["f6"].macs == 84 * 120
  assert rows[""].params == 60_000


def test_cli_prints_the_table(capsys):
  assert summary.main(["nin", "--num-classes", "10", "--input-size", "32"]) == 0
  out = capsys.readouterr().out
  assert "966,986 parameters" in out and "cccp6" in out


def test_cli_unknown_model(capsys):
  assert summary.main(["lenet6"]) == 1
  assert "Valid names" in capsys.readouterr().err
