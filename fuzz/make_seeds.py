#!/usr/bin/env python3
"""Writes a small seed corpus for the `nifti_read` fuzz target into corpus/nifti_read/.

Standard library only. The corpus is not committed (see ../.gitignore); rerun this script
before fuzzing on a fresh checkout:  python3 make_seeds.py
"""
import gzip
import math
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "nifti_read")
# NIfTI datatype code -> struct format character
TYPES = {2: "B", 4: "h", 8: "i", 16: "f", 64: "d", 256: "b", 512: "H", 768: "I"}


def nifti(dims, code, big=False, sform=False, qform=False, slope=0.0, ext=b""):
    e = ">" if big else "<"
    h = bytearray(348)
    struct.pack_into(e + "i", h, 0, 348)
    struct.pack_into(e + "8h", h, 40, len(dims), *(list(dims) + [1] * (7 - len(dims))))
    struct.pack_into(e + "h", h, 70, code)
    struct.pack_into(e + "h", h, 72, 8 * struct.calcsize(TYPES[code]))
    struct.pack_into(e + "8f", h, 76, -1.0, 0.9, 1.1, 5.0, 1, 1, 1, 1)
    vox_offset = 352 + len(ext)
    struct.pack_into(e + "3f", h, 108, vox_offset, slope, 3.0)
    struct.pack_into(e + "2h", h, 252, int(qform), int(sform))
    s = math.sin(0.1)
    struct.pack_into(e + "6f", h, 256, 0.0, 0.0, s, -90.0, 126.0, -72.0)
    struct.pack_into(e + "12f", h, 280, -0.9, 0, 0, 90, 0, 1.1, 0, -126, 0, 0, 5, -72)
    h[344:348] = b"n+1\0"
    n = 1
    for d in dims:
        n *= d
    values = [(i * 37) % 101 for i in range(n)]
    data = struct.pack(e + TYPES[code] * n, *values)
    flag = b"\1\0\0\0" if ext else b"\0\0\0\0"
    return bytes(h) + flag + ext + data


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for code in TYPES:
        seeds[f"le_{code}.nii"] = nifti([3, 2, 2], code, sform=True)
        seeds[f"be_{code}.nii"] = nifti([2, 2, 3], code, big=True, qform=True)
    seeds["scaled.nii"] = nifti([4, 3, 2], 4, slope=0.5, qform=True, sform=True)
    seeds["four_d.nii"] = nifti([2, 2, 2, 3], 16)
    seeds["two_d.nii"] = nifti([5, 4], 2)
    ext = struct.pack("<2i", 16, 4) + b"abcdefgh"
    seeds["extension.nii"] = nifti([2, 2, 2], 512, ext=ext)
    for name in list(seeds):
        if name.startswith(("le_16", "be_4", "four_d", "extension")):
            seeds[name + ".gz"] = gzip.compress(seeds[name], mtime=0)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
