import flax.linen as nn
import pytest

from jaxcnn.tools import summary
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
  assert summary.main(["nin", "--num_classes=10", "--input_size", "32"]) == 0
  captured = capsys.readouterr()
  assert "966,986 parameters" in captured.out and "cccp6" in captured.out
  assert captured.err == ""


def test_cli_takes_the_old_hyphenated_flags_with_a_warning(capsys):
  assert summary.main(["nin", "--num-classes", "100", "--input-size=32"]) == 0
  captured = capsys.readouterr()
  # 100 classes: the last 1x1 conv has 192 * 100 + 100 parameters, not 192 * 10 + 10.
  assert f"{966_986 + 90 * 193:,} parameters" in captured.out
  assert "nin, input 32x32x3" in captured.out
  for old, new in (("--num-classes", "--num_classes"), ("--input-size", "--input_size")):
    assert f"warning: {old} is deprecated" in captured.err and f"use {new}." in captured.err


def test_cli_unknown_model(capsys):
  assert summary.main(["lenet6"]) == 1
  assert "Valid names" in capsys.readouterr().err


def totals(name, size=224, **kwargs):
  rows = summary.summarize(models.create(name, **kwargs), (1, size, size, 3))
  return {r.path: r for r in rows}


@pytest.mark.parametrize("name,millions", [("vgg_a", 133), ("vgg_a_lrn", 133), ("vgg_b", 133),
                                           ("vgg_c", 134), ("vgg_d", 138), ("vgg_e", 144)])
def test_vgg_table2_parameters(name, millions):
  assert round(totals(name)[""].params / 1e6) == millions


# Table 1's multiply-adds. The paper's figures lie within 0.07 G of the count: those of
# ResNet-34 (3.66 G) and -50 (3.86 G) look truncated, the others rounded. 50/101/152 are
# counted with the stride on the first 1x1 conv, as the paper's models had it.
@pytest.mark.parametrize("name,paper,stride_in_1x1", [
    ("resnet18", 1.8, False), ("resnet34", 3.6, False), ("resnet50", 3.8, True),
    ("resnet101", 7.6, True), ("resnet152", 11.3, True)])
def test_resnet_table1_flops(name, paper, stride_in_1x1):
  kwargs = {"stride_in_1x1": True} if stride_in_1x1 else {}
  assert abs(totals(name, **kwargs)[""].macs / 1e9 - paper) < 0.07


def test_resnet_v15_costs_more_with_the_same_parameters():
  v1, v15 = totals("resnet50", stride_in_1x1=True)[""], totals("resnet50")[""]
  assert v1.params == v15.params == 25_557_032
  assert round(v15.macs / 1e9, 2) == 4.09  # torchvision's published 4.09 GFLOPS.


# GoogLeNet Table 1: (ops in M, params in K with K = 1024, weights and biases). Rows where the
# paper disagrees with its own widths are documented in papers.md and left out: conv1's
# params and ops (printed 2.7K / 34M; the widths give 9.2K / 118M), inception 5a's ops
# (printed 54M; the widths give 51.1M), and the params of 4a, 4c-4e, 5a, 5b (e.g. 4c is
# printed 463K; the widths give 498K).
GOOGLENET_OPS = {"inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88,
                 "inception4c": 100, "inception4d": 119, "inception4e": 170, "inception5b": 71,
                 "fc": 1}
GOOGLENET_PARAMS_K = {"inception3a": 159, "inception3b": 380, "fc": 1000}


def test_googlenet_table1():
  rows = totals("googlenet")
  assert rows["inception3a"].output == (1, 28, 28, 256)
  assert rows["inception5b"].output == (1, 7, 7, 1024)
  for name, ops in GOOGLENET_OPS.items():
    assert abs(rows[name].macs / 1e6 - ops) < 1.0, name
  # The second conv row is the 1x1 reduce and the 3x3 conv together: 360M, 112K.
  conv2 = rows["conv2_reduce"].macs + rows["conv2"].macs
  assert abs(conv2 / 1e6 - 360) < 1.0
  assert abs((rows["conv2_reduce"].params + rows["conv2"].params) / 1024 - 112) < 1.0
  for name, k in GOOGLENET_PARAMS_K.items():
    assert abs(rows[name].params / 1024 - k) < 1.0, name


@pytest.mark.parametrize("name,gflops", [("vgg11", 7.609), ("vgg13", 11.308), ("vgg16", 15.47),
                                         ("vgg19", 19.632), ("alexnet_torchvision", 0.714)])
def test_torchvision_published_multiply_adds(name, gflops):
  # torchvision's model metadata ("GFLOPS", counted as multiply-adds) for the same networks.
  assert abs(totals(name)[""].macs / 1e9 - gflops) < 0.001


def test_inception_v3_multiply_adds():
  rows = totals("inception_v3", 299)
  # torchvision's metadata for the same network (Inception_V3_Weights.IMAGENET1K_V1, "GFLOPS"
  # counted as multiply-adds): 5.713 G. The paper's abstract gives "a computational cost of 5
  # billion multiply-adds per inference", a round figure 0.7 G below this count, and "less
  # than 25 million parameters": the network without its auxiliary classifier.
  assert abs(rows[""].macs / 1e9 - 5.713) < 0.001
  assert rows[""].params == 23_834_568
  assert rows["Mixed_7c"].output == (1, 8, 8, 2048)
