//! One axial slice view: a texture of one sequence at a world height, drawn with zoom and
//! pan, crosshair, orientation labels and the voxel value under the cursor. Mouse: wheel
//! scrolls slices, Ctrl+wheel zooms, left-drag pans, right-drag sets window/level, a click
//! places the crosshair.
//!
//! Sampling a slice (about 0.3 million trilinear look-ups for the three sequences) happens
//! here, on the UI thread, only when the slice, window or overlay changes: it takes a few
//! milliseconds and must follow the mouse without a round trip to a busy worker.

use std::collections::HashMap;

use eframe::egui::{self, Color32, ColorImage, PointerButton, Pos2, Rect, Sense, TextureHandle};

use crate::io::display::{sample_axial, value_at, window_grey};
use crate::worker::{Explanation, LoadedStudy, Slot};

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

/// What a texture depends on beyond the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TextureKey {
    sample: SampleKey,
    window: (u32, u32),
    opacity: u32,
}

/// One view's sampled slice and its texture.
struct CachedSlice {
    key: TextureKey,
    values: Vec<f32>,
    heat: Option<Vec<f32>>,
    texture: TextureHandle,
}

/// The slice textures of the views. Moving the slice resamples the volume; changing the
/// window or the overlay opacity (every frame of a right-drag) only recolours the samples.
#[derive(Default)]
pub struct SliceTextures {
    map: HashMap<(Slot, usize), CachedSlice>,
}

/// What one slice view shows.
pub struct SliceRequest<'a> {
    /// Which view.
    pub slot: Slot,
    /// The study.
    pub study: &'a LoadedStudy,
    /// Sequence channel (0 DWI, 1 T2*, 2 FLAIR).
    pub seq: usize,
    /// World height of the slice.
    pub z_mm: f64,
    /// Display window.
    pub window: (f32, f32),
    /// Radiological convention.
    pub radiological: bool,
    /// Heat overlay and its opacity.
    pub overlay: Option<(&'a Explanation, f32)>,
}

impl SliceTextures {
    /// Drops the cached slices of `slot` (a new study arrived for it), or of every slot with
    /// `None` (a new overlay). The cache keys hold addresses: a study freed while its slot
    /// was not drawn could hand its address to the next one and be shown in its place.
    pub fn forget(&mut self, slot: Option<Slot>) {
        self.map
            .retain(|(s, _), _| slot.is_some_and(|slot| *s != slot));
    }

    fn texture(&mut self, ctx: &egui::Context, r: &SliceRequest<'_>) -> Option<TextureHandle> {
        let sample = SampleKey {
            study: std::ptr::from_ref(r.study) as usize,
            z_bits: r.z_mm.to_bits(),
            radiological: r.radiological,
            overlay: r.overlay.map_or(0, |(e, _)| std::ptr::from_ref(e) as usize),
        };
        let key = TextureKey {
            sample,
            window: (r.window.0.to_bits(), r.window.1.to_bits()),
            opacity: r.overlay.map_or(0, |(_, a)| a.to_bits()),
        };
        let f = &r.study.frame;
        let opacity = r.overlay.map_or(0.0, |(_, a)| a);
        if let Some(c) = self.map.get_mut(&(r.slot, r.seq)) {
            if c.key == key {
                return Some(c.texture.clone());
            }
            if c.key.sample == sample {
                let image = colour(
                    &c.values,
                    c.heat.as_deref(),
                    r.window,
                    opacity,
                    f.width,
                    f.height,
                );
                c.texture.set(image, egui::TextureOptions::LINEAR);
                c.key = key;
                return Some(c.texture.clone());
            }
        }
        let values = sample_axial(&r.study.volumes[r.seq], f, r.z_mm, r.radiological)?;
        let heat = r
            .overlay
            .and_then(|(e, _)| sample_axial(&e.heat, f, r.z_mm, r.radiological));
        let image = colour(
            &values,
            heat.as_deref(),
            r.window,
            opacity,
            f.width,
            f.height,
        );
        let name = format!("slice-{:?}-{}", r.slot, r.seq);
        let texture = ctx.load_texture(name, image, egui::TextureOptions::LINEAR);
        self.map.insert(
            (r.slot, r.seq),
            CachedSlice {
                key,
                values,
                heat,
                texture: texture.clone(),
            },
        );
        Some(texture)
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

    #[test]
    fn forget_drops_one_slot_or_every_slot() {
        let ctx = egui::Context::default();
        let mut textures = SliceTextures::default();
        let key = TextureKey {
            sample: SampleKey {
                study: 1,
                z_bits: 0,
                radiological: false,
                overlay: 0,
            },
            window: (0, 0),
            opacity: 0,
        };
        for slot in [Slot::Primary, Slot::Compare] {
            for seq in 0..3 {
                let image = ColorImage::new([2, 2], vec![Color32::BLACK; 4]);
                let texture = ctx.load_texture("t", image, egui::TextureOptions::LINEAR);
                let cached = CachedSlice {
                    key,
                    values: vec![0.0; 4],
                    heat: None,
                    texture,
                };
                textures.map.insert((slot, seq), cached);
            }
        }
        textures.forget(Some(Slot::Primary));
        assert_eq!(textures.map.len(), 3);
        assert!(textures.map.keys().all(|(s, _)| *s == Slot::Compare));
        textures.forget(None);
        assert!(textures.map.is_empty());
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
