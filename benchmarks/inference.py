"""Inference speed of the sketch-inversion network.

``python benchmarks/inference.py [--resolution 96] [--repeats 20]``

Images per second at batch 1 and batch 32 on the CPU (and on CUDA when
present), with the network's FLOPs per image and the achieved GFLOP/s, so the
distance to the hardware's peak is visible. The network alone is timed (no
alignment, no decoding): the figure a worker's GPU or CPU can at best reach.
Method: a random-weight network of the same architecture (speed does not
depend on the weights), eval mode, ``torch.inference_mode()``, channels-last
memory, warm-up runs, then the median of ``--repeats`` timed runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from inversion.align import RESOLUTION
from inversion.model import SketchInversionNet, count_parameters, flops_per_image


def time_batch(net: torch.nn.Module, batch: torch.Tensor, repeats: int, dtype: torch.dtype | None) -> float:
    """Median seconds for one forward pass of ``batch``."""
    device = batch.device
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(repeats + 3):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            net(batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= 3:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    net = SketchInversionNet(in_channels=1)
    flops = flops_per_image(net, args.resolution, args.resolution)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        model = net.to(device, memory_format=torch.channels_last).eval()
        for precision, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
            for batch_size in (1, 32):
                batch = torch.rand(batch_size, 1, args.resolution, args.resolution, device=device) * 2 - 1
                batch = batch.contiguous(memory_format=torch.channels_last)
                seconds = time_batch(model, batch, args.repeats, dtype)
                rows.append(
                    {
                        "device": torch.cuda.get_device_name(device)
                        if device.type == "cuda"
                        else f"cpu x{torch.get_num_threads()}",
                        "precision": precision,
                        "batch": batch_size,
                        "images_per_second": round(batch_size / seconds, 1),
                        "ms_per_image": round(1000 * seconds / batch_size, 2),
                        "gflops_per_second": round(flops * batch_size / seconds / 1e9, 1),
                    }
                )
    cpu = platform.processor() or platform.machine()
    print(
        f"SketchInversionNet: {count_parameters(net):,} parameters, {flops / 1e9:.2f} GFLOP per "
        f"{args.resolution}x{args.resolution} image; torch {torch.__version__}, {cpu}"
    )
    print(f"{'device':<24}{'precision':<11}{'batch':>6}{'images/s':>10}{'ms/image':>10}{'GFLOP/s':>10}")
    for row in rows:
        print(
            f"{row['device']:<24}{row['precision']:<11}{row['batch']:>6}{row['images_per_second']:>10}"
            f"{row['ms_per_image']:>10}{row['gflops_per_second']:>10}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gflop_per_image": flops / 1e9, "resolution": args.resolution, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
