//! The viewer's slice sampling (`io::display::sample_axial`): one axial slice of one sequence
//! on the display frame, what the viewer's slice-sampler thread does when the slice or the
//! study changes (three of them per view, six in Compare).
//!
//! Run: `cargo bench --bench display` (under a minute).

use std::hint::black_box;
use std::time::Duration;

use brainclip::io::display::{DisplayFrame, sample_axial};
use brainclip::io::volume::{Affine, Volume};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A `dims` volume of `mm` voxels (slices `slice_mm` thick), centred on the origin, filled
/// with a smooth pattern.
fn volume(dims: [usize; 3], mm: f64, slice_mm: f64) -> Option<Volume> {
    let n = dims.iter().product::<usize>();
    let data = (0..n).map(|i| ((i % 977) as f32 * 0.37).sin()).collect();
    let half = |k: usize, s: f64| -(k as f64 - 1.0) * s / 2.0;
    let a = Affine::from_parts(
        [[mm, 0.0, 0.0], [0.0, mm, 0.0], [0.0, 0.0, slice_mm]],
        [
            half(dims[0], mm),
            half(dims[1], mm),
            half(dims[2], slice_mm),
        ],
    );
    Volume::new(dims, data, a)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sample_axial");
    g.measurement_time(Duration::from_secs(5));
    for (name, v) in [
        ("demo 1 mm 192x224x30", volume([192, 224, 30], 1.0, 5.0)),
        (
            "clinical 0.45 mm 512x512x30",
            volume([512, 512, 30], 0.45, 5.0),
        ),
    ] {
        let Some((v, frame)) = v.and_then(|v| DisplayFrame::new(&[&v], 0).map(|f| (v, f))) else {
            eprintln!("{name}: cannot build the volume or its frame");
            continue;
        };
        g.throughput(Throughput::Elements((frame.width * frame.height) as u64));
        g.bench_function(format!("{name} -> {}x{}", frame.width, frame.height), |b| {
            b.iter(|| sample_axial(black_box(&v), &frame, 1.0, true))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
