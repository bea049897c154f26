//! One axial slice view: a texture of one sequence at a world height, drawn with zoom and
//! pan, crosshair, orientation labels and the voxel value under the cursor. Mouse: wheel
//! scrolls slices, Ctrl+wheel zooms, left-drag pans, right-drag sets window/level, a click
//! places the crosshair.
//!
//! Sampling a slice (up to 0.8 million trilinear look-ups for the three sequences of a
//! high-resolution study) is the worker's slice sampler's job: a view asks for its slice
//! during the frame ([`SliceTextures::requests`], sent by the app after the frame) and shows
//! the study's previous slice until the samples arrive ([`SliceTextures::receive`]), a frame
//! or two later. Changing the window or the overlay opacity only recolours samples at hand.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui::{self, Color32, ColorImage, PointerButton, Pos2, Rect, Sense, TextureHandle};

use crate::io::display::{value_at, window_grey};
use crate::worker::{Explanation, LoadedStudy, SampledSlice, SliceJob, Slot};

/// What a slice's samples depend on; a different key resamples. Studies and explanations
/// are told apart by their allocation (each load is a new `Arc`); since a freed one's
/// address can come back, [`SliceTextures::forget`] drops a slot's slices when a new study
/// or overlay arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SampleKey {
    study: usize,
    z_bits: u64,
    radiological: bool,
    overlay: usize,
}

/// How sampled values are coloured: window and overlay opacity.
type Look = ((u32, u32), u32);

/// One view's sampled slice and its texture.
struct CachedSlice {
    sample: SampleKey,
    values: Vec<f32>,
    heat: Option<Vec<f32>>,
    /// The texture and the look it was coloured with (`None`: new samples to colour).
    texture: Option<TextureHandle>,
    look: Option<Look>,
}

/// A slice asked of the sampler and not yet back.
struct Pending {
    ticket: u64,
    sample: SampleKey,
}

/// The slice textures of the views.
#[derive(Default)]
pub struct SliceTextures {
    map: HashMap<(Slot, usize), CachedSlice>,
    pending: HashMap<(Slot, usize), Pending>,
    requests: Vec<SliceJob>,
    next_ticket: u64,
}

/// What one slice view shows.
pub struct SliceRequest<'a> {
    /// Which view.
    pub slot: Slot,
    /// The study.
    pub study: &'a Arc<LoadedStudy>,
    /// Sequence channel (0 DWI, 1 T2*, 2 FLAIR).
    pub seq: usize,
    /// World height of the slice.
    pub z_mm: f64,
    /// Display window.
    pub window: (f32, f32),
    /// Radiological convention.
    pub radiological: bool,
    /// Heat overlay and its opacity.
    pub overlay: Option<(&'a Arc<Explanation>, f32)>,
}

impl SliceTextures {
    /// Drops the cached and pending slices of `slot`: a new study arrived for it. The cache
    /// keys hold addresses: a study freed while its slot was not drawn could hand its
    /// address to the next one and be shown in its place.
    pub fn forget(&mut self, slot: Slot) {
        self.map.retain(|(s, _), _| *s != slot);
        self.pending.retain(|(s, _), _| *s != slot);
    }

    /// Drops the cached and pending slices drawn with a heat overlay: a new explanation
    /// arrived (it may have the address of the old one). Plain slices stay.
    pub fn forget_overlays(&mut self) {
        self.map.retain(|_, c| c.sample.overlay == 0);
        self.pending.retain(|_, p| p.sample.overlay == 0);
    }

    /// How many views have a coloured slice at hand (tests and diagnostics).
    pub fn ready(&self) -> usize {
        self.map.values().filter(|c| c.look.is_some()).count()
    }

    /// The jobs asked for since the last call, for the sampler.
    pub fn requests(&mut self) -> Vec<SliceJob> {
        std::mem::take(&mut self.requests)
    }

    /// The job of `view` with `ticket` was not taken (the sampler's queue was full): it is
    /// asked for again when the view is next drawn.
    pub fn unsent(&mut self, view: (Slot, usize), ticket: u64) {
        if self.pending.get(&view).is_some_and(|p| p.ticket == ticket) {
            self.pending.remove(&view);
        }
    }

    /// Takes a sampled slice when it is the one its view waits for; older ones are dropped.
    pub fn receive(&mut self, s: SampledSlice) {
        let Some(p) = self.pending.get(&s.view).filter(|p| p.ticket == s.ticket) else {
            return;
        };
        let sample = p.sample;
        self.pending.remove(&s.view);
        // A transform that cannot be inverted leaves the view black.
        let values = s.values.unwrap_or_default();
        let texture = self.map.remove(&s.view).and_then(|c| c.texture);
        self.map.insert(
            s.view,
            CachedSlice {
                sample,
                values,
                heat: s.heat,
                texture,
                look: None,
            },
        );
    }

    fn texture(&mut self, ctx: &egui::Context, r: &SliceRequest<'_>) -> Option<TextureHandle> {
        let view = (r.slot, r.seq);
        let sample = SampleKey {
            study: Arc::as_ptr(r.study) as usize,
            z_bits: r.z_mm.to_bits(),
            radiological: r.radiological,
            overlay: r.overlay.map_or(0, |(e, _)| Arc::as_ptr(e) as usize),
        };
        let opacity = r.overlay.map_or(0.0, |(_, a)| a);
        let look = (
            (r.window.0.to_bits(), r.window.1.to_bits()),
            opacity.to_bits(),
        );
        let f = &r.study.frame;
        if let Some(c) = self.map.get_mut(&view)
            && c.sample == sample
        {
            // Back at the slice at hand: what was asked for meanwhile is no longer wanted.
            self.pending.remove(&view);
            if c.look != Some(look) && c.values.len() == f.width * f.height {
                let image = colour(
                    &c.values,
                    c.heat.as_deref(),
                    r.window,
                    opacity,
                    f.width,
                    f.height,
                );
                match &mut c.texture {
                    Some(t) => t.set(image, egui::TextureOptions::LINEAR),
                    None => {
                        let name = format!("slice-{:?}-{}", r.slot, r.seq);
                        c.texture =
                            Some(ctx.load_texture(name, image, egui::TextureOptions::LINEAR));
                    }
                }
                c.look = Some(look);
            }
            return c.texture.clone().filter(|_| c.look.is_some());
        }
        if self.pending.get(&view).is_none_or(|p| p.sample != sample) {
            self.next_ticket += 1;
            let ticket = self.next_ticket;
            self.pending.insert(view, Pending { ticket, sample });
            self.requests.push(SliceJob {
                view,
                ticket,
                study: Arc::clone(r.study),
                z_mm: r.z_mm,
                radiological: r.radiological,
                heat: r.overlay.map(|(e, _)| Arc::clone(e)),
            });
        }
        // Until the new samples arrive: the study's slice at hand, if any.
        self.map
            .get(&view)
            .filter(|c| c.sample.study == sample.study && c.look.is_some())
            .and_then(|c| c.texture.clone())
    }
}

/// Windowed grey values with the heat overlay (0-1, NaN outside) blended in red.
fn colour(
    values: &[f32],
    heat: Option<&[f32]>,
    window: (f32, f32),
    opacity: f32,
    width: usize,
    height: usize,
) -> ColorImage {
    let pixels = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let g = f32::from(window_grey(*v, window));
            let h = heat.map_or(0.0, |hm| hm[i].max(0.0));
            // The weakest fifth of the map stays clear so the image shows through.
            let t = (opacity * (h - 0.2) / 0.8).clamp(0.0, 1.0);
            let mix = |c: f32| (g * (1.0 - t) + c * t).round() as u8;
            Color32::from_rgb(mix(255.0), mix(40.0 * h), mix(0.0))
        })
        .collect();
    ColorImage::new([width, height], pixels)
}

/// Shared pan/zoom/crosshair state of the views.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Magnification over "fit".
    pub zoom: f32,
    /// Offset of the image centre from the view centre, in points.
    pub pan: egui::Vec2,
    /// Crosshair position in world mm.
    pub crosshair: Option<[f64; 3]>,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            pan: egui::Vec2::ZERO,
            crosshair: None,
        }
    }
}

/// What the user did in a slice view this frame.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SliceInput {
    /// Slices to scroll (+ = superior).
    pub scroll: i32,
    /// Window change from right-drag: (width factor, centre shift as a fraction of width).
    pub window_drag: Option<(f32, f32)>,
    /// Text for the hover read-out.
    pub hover: Option<String>,
}

/// Draws one slice view of `size` (accessible as `label`) and returns the user's input.
pub fn slice_ui(
    ui: &mut egui::Ui,
    textures: &mut SliceTextures,
    r: &SliceRequest<'_>,
    camera: &mut Camera,
    size: egui::Vec2,
    label: &str,
) -> SliceInput {
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, label));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::BLACK);
    let f = &r.study.frame;
    let fit = (rect.width() / f.width as f32).min(rect.height() / f.height as f32);
    let scale = fit * camera.zoom; // points per display pixel
    let img_size = egui::vec2(f.width as f32, f.height as f32) * scale;
    let img_rect = Rect::from_center_size(rect.center() + camera.pan, img_size);
    if let Some(tex) = textures.texture(ui.ctx(), r) {
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        painter.image(tex.id(), img_rect, uv, Color32::WHITE);
    }
    let to_pixel = |p: Pos2| {
        let d = (p - img_rect.min) / scale;
        (f64::from(d.x) - 0.5, f64::from(d.y) - 0.5)
    };
    let mut input = SliceInput::default();
    if response.hovered() {
        let (scroll, zoom) = ui.input(|i| {
            let wheel: f32 = i
                .raw
                .events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::MouseWheel {
                        delta, modifiers, ..
                    } if !modifiers.command => Some(delta.y),
                    _ => None,
                })
                .sum();
            (wheel, i.zoom_delta())
        });
        if (zoom - 1.0).abs() > 1e-3 {
            camera.zoom = (camera.zoom * zoom).clamp(0.5, 12.0);
        } else if scroll.abs() > 1e-3 {
            input.scroll = if scroll > 0.0 { 1 } else { -1 };
        }
        if let Some(p) = response.hover_pos() {
            let (c, rr) = to_pixel(p);
            let world = f.world_at(c, rr, r.z_mm, r.radiological);
            let value = value_at(&r.study.volumes[r.seq], world);
            input.hover = Some(match value {
                Some(v) => format!(
                    "x {:.1}  y {:.1}  z {:.1} mm   value {v:.1}",
                    world[0], world[1], world[2]
                ),
                None => format!(
                    "x {:.1}  y {:.1}  z {:.1} mm   outside",
                    world[0], world[1], world[2]
                ),
            });
        }
    }
    if response.dragged_by(PointerButton::Primary) {
        camera.pan += response.drag_delta();
    }
    if response.dragged_by(PointerButton::Secondary) {
        let d = response.drag_delta();
        input.window_drag = Some(((d.x / 200.0).exp(), -d.y / 300.0));
    }
    if response.clicked()
        && let Some(p) = response.interact_pointer_pos()
    {
        let (c, rr) = to_pixel(p);
        camera.crosshair = Some(f.world_at(c, rr, r.z_mm, r.radiological));
    }
    if let Some(w) = camera.crosshair {
        let (c, rr) = f.pixel_of(w, r.radiological);
        let p = img_rect.min + egui::vec2((c as f32 + 0.5) * scale, (rr as f32 + 0.5) * scale);
        let stroke = egui::Stroke::new(1.0, Color32::from_rgba_unmultiplied(0, 255, 0, 140));
        painter.hline(rect.x_range(), p.y, stroke);
        painter.vline(p.x, rect.y_range(), stroke);
    }
    let (left, right) = if r.radiological {
        ("R", "L")
    } else {
        ("L", "R")
    };
    let font = egui::FontId::proportional(14.0);
    let col = Color32::from_rgb(255, 210, 0);
    let m = 4.0;
    painter.text(
        rect.left_center() + egui::vec2(m, 0.0),
        egui::Align2::LEFT_CENTER,
        left,
        font.clone(),
        col,
    );
    painter.text(
        rect.right_center() - egui::vec2(m, 0.0),
        egui::Align2::RIGHT_CENTER,
        right,
        font.clone(),
        col,
    );
    painter.text(
        rect.center_top() + egui::vec2(0.0, m),
        egui::Align2::CENTER_TOP,
        "A",
        font.clone(),
        col,
    );
    painter.text(
        rect.center_bottom() - egui::vec2(0.0, m),
        egui::Align2::CENTER_BOTTOM,
        "P",
        font,
        col,
    );
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 x 3 x 2 study whose voxel values are their x index (identity transform).
    fn study() -> Arc<LoadedStudy> {
        let data: Vec<f32> = (0..24).map(|i| (i % 4) as f32).collect();
        let v = crate::io::Volume::new([4, 3, 2], data, crate::io::Affine::identity()).unwrap();
        let frame = crate::io::display::DisplayFrame::new(&[&v], 0).unwrap();
        Arc::new(LoadedStudy {
            study_id: "s".into(),
            label: None,
            report: "r".into(),
            volumes: [v.clone(), v.clone(), v],
            auto_windows: [(0.0, 3.0); 3],
            frame,
            head_z_mm: (0.0, 1.0),
        })
    }

    fn request<'a>(study: &'a Arc<LoadedStudy>, seq: usize, z_mm: f64) -> SliceRequest<'a> {
        SliceRequest {
            slot: Slot::Primary,
            study,
            seq,
            z_mm,
            window: (0.0, 3.0),
            radiological: false,
            overlay: None,
        }
    }

    /// Draws `r` once and answers its request (if any) the way the sampler does.
    fn draw_and_sample(
        textures: &mut SliceTextures,
        ctx: &egui::Context,
        r: &SliceRequest<'_>,
    ) -> Option<TextureHandle> {
        let shown = textures.texture(ctx, r);
        for job in textures.requests() {
            textures.receive(job.sample());
        }
        shown
    }

    #[test]
    fn a_slice_is_asked_for_once_and_shown_when_it_arrives() {
        let ctx = egui::Context::default();
        let s = study();
        let mut textures = SliceTextures::default();
        assert!(textures.texture(&ctx, &request(&s, 0, 0.0)).is_none());
        assert!(textures.texture(&ctx, &request(&s, 0, 0.0)).is_none());
        let jobs = textures.requests();
        assert_eq!(jobs.len(), 1, "asked for once while it is on its way");
        assert_eq!(jobs[0].view, (Slot::Primary, 0));
        let sampled = jobs[0].sample();
        assert_eq!(sampled.values.as_deref().map(<[f32]>::len), Some(12));
        textures.receive(sampled);
        let t = textures.texture(&ctx, &request(&s, 0, 0.0)).unwrap();
        assert_eq!(t.size(), [4, 3]);
        assert!(textures.requests().is_empty(), "nothing more to sample");

        // The next slice: the one at hand is shown until it arrives.
        let shown = textures.texture(&ctx, &request(&s, 0, 1.0)).unwrap();
        assert_eq!(shown.id(), t.id());
        let jobs = textures.requests();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].z_mm, 1.0);
        // An old ticket is dropped; the current one is taken.
        let mut stale = jobs[0].sample();
        stale.ticket -= 1;
        stale.values = Some(vec![0.0; 12]);
        textures.receive(stale);
        assert!(textures.pending.contains_key(&(Slot::Primary, 0)));
        textures.receive(jobs[0].sample());
        assert!(textures.pending.is_empty());
        assert!(textures.texture(&ctx, &request(&s, 0, 1.0)).is_some());
        assert!(textures.requests().is_empty());
    }

    #[test]
    fn another_study_is_not_shown_while_its_slice_is_on_its_way() {
        let ctx = egui::Context::default();
        let (a, b) = (study(), study());
        let mut textures = SliceTextures::default();
        draw_and_sample(&mut textures, &ctx, &request(&a, 2, 0.0));
        assert!(textures.texture(&ctx, &request(&a, 2, 0.0)).is_some());
        assert!(
            textures.texture(&ctx, &request(&b, 2, 0.0)).is_none(),
            "study a's slice must not stand in for study b's"
        );
    }

    #[test]
    fn a_request_the_sampler_did_not_take_is_made_again() {
        let ctx = egui::Context::default();
        let s = study();
        let mut textures = SliceTextures::default();
        textures.texture(&ctx, &request(&s, 1, 0.0));
        let job = textures.requests().pop().unwrap();
        textures.unsent(job.view, job.ticket);
        textures.texture(&ctx, &request(&s, 1, 0.0));
        let again = textures.requests();
        assert_eq!(again.len(), 1);
        assert!(again[0].ticket > job.ticket);
    }

    #[test]
    fn returning_to_the_slice_at_hand_drops_the_one_on_its_way() {
        let ctx = egui::Context::default();
        let s = study();
        let mut textures = SliceTextures::default();
        draw_and_sample(&mut textures, &ctx, &request(&s, 0, 0.0));
        textures.texture(&ctx, &request(&s, 0, 1.0));
        let job = textures.requests().pop().unwrap();
        textures.texture(&ctx, &request(&s, 0, 0.0));
        textures.receive(job.sample());
        let cached = &textures.map[&(Slot::Primary, 0)];
        assert_eq!(
            cached.sample.z_bits,
            0.0f64.to_bits(),
            "the late slice is dropped"
        );
    }

    #[test]
    fn a_new_window_recolours_without_resampling() {
        let ctx = egui::Context::default();
        let s = study();
        let mut textures = SliceTextures::default();
        draw_and_sample(&mut textures, &ctx, &request(&s, 0, 0.0));
        let mut r = request(&s, 0, 0.0);
        r.window = (1.0, 2.0);
        assert!(textures.texture(&ctx, &r).is_some());
        assert!(textures.requests().is_empty());
        assert_eq!(
            textures.map[&(Slot::Primary, 0)].look.unwrap().0,
            (1f32.to_bits(), 2f32.to_bits())
        );
    }

    #[test]
    fn forget_drops_a_slot_or_the_overlaid_slices() {
        let ctx = egui::Context::default();
        let s = study();
        let heat = Arc::new(Explanation {
            query: "s".into(),
            other: "t".into(),
            heat: s.volumes[0].clone(),
            score: 0.5,
        });
        let mut textures = SliceTextures::default();
        // The primary views plain, the compare views with the overlay; the slices at 0 mm
        // arrive, those at 1 mm stay on their way.
        for z_mm in [0.0, 1.0] {
            for slot in [Slot::Primary, Slot::Compare] {
                for seq in 0..3 {
                    let mut r = request(&s, seq, z_mm);
                    r.slot = slot;
                    if slot == Slot::Compare {
                        r.overlay = Some((&heat, 0.5));
                    }
                    textures.texture(&ctx, &r);
                }
            }
            if z_mm == 0.0 {
                for job in textures.requests() {
                    textures.receive(job.sample());
                }
            }
        }
        assert_eq!((textures.map.len(), textures.pending.len()), (6, 6));
        textures.forget_overlays();
        assert_eq!((textures.map.len(), textures.pending.len()), (3, 3));
        assert!(textures.map.keys().all(|(s, _)| *s == Slot::Primary));
        assert!(textures.pending.keys().all(|(s, _)| *s == Slot::Primary));
        textures.forget(Slot::Compare);
        assert_eq!(textures.map.len(), 3, "another slot's slices stay");
        textures.forget(Slot::Primary);
        assert!(textures.map.is_empty() && textures.pending.is_empty());
    }

    #[test]
    fn colour_windows_grey_and_blends_strong_heat_only() {
        let values = [0.0, 10.0, f32::NAN, 5.0];
        let heat = [0.0, 0.1, f32::NAN, 1.0];
        let img = colour(&values, Some(&heat), (0.0, 10.0), 1.0, 2, 2);
        assert_eq!(img.pixels[0], Color32::from_rgb(0, 0, 0));
        assert_eq!(
            img.pixels[1],
            Color32::from_rgb(255, 255, 255),
            "weak heat stays clear"
        );
        assert_eq!(img.pixels[2], Color32::BLACK, "outside the volume");
        assert_eq!(
            img.pixels[3],
            Color32::from_rgb(255, 40, 0),
            "full heat at opacity 1"
        );
        let plain = colour(&values, None, (0.0, 10.0), 0.0, 2, 2);
        assert_eq!(plain.pixels[3], Color32::from_rgb(128, 128, 128));
    }
}
