//! Which layers and build steps of an image are its base image's, and which its own build
//! added: the answer to "is this finding mine or my base image's?".
//!
//! The base is known, in this order of trust, from:
//! 1. `--base REF`: the base image itself, read like any image; its layers must be the
//!    image's first layers (same diff_ids, in order).
//! 2. the manifest annotations (or config labels) `org.opencontainers.image.base.name` and
//!    `org.opencontainers.image.base.digest` that `docker buildx` and most CI builders write,
//!    when the name can be read and, if a digest is given, has that digest;
//! 3. the history: a base image's build usually ends with its `CMD` or `ENTRYPOINT`, which
//!    the history keeps as an empty-layer step. The image's own trailing metadata steps are
//!    skipped, and the last `CMD`/`ENTRYPOINT` before them ends the base (Trivy guesses the
//!    same way). An image built from a base without one (`docker import`, `FROM scratch`)
//!    has no base found, and every finding is the image's own.

use crate::checks::history::{self, Instruction};
use portcullis_model::image::ImageMeta;
use portcullis_model::{Finding, Origin, Part};
use serde::{Deserialize, Serialize};

/// The annotation (and label) naming the base image.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The annotation (and label) pinning the base image's manifest digest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// How the base image was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseMethod {
    /// `--base REF`.
    Flag,
    /// The `org.opencontainers.image.base.*` annotations or labels.
    Annotation,
    /// The history: the base ends with its last `CMD`/`ENTRYPOINT` step.
    History,
    /// No base was found: every layer is the image's own.
    None,
}

impl BaseMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BaseMethod::Flag => "--base",
            BaseMethod::Annotation => "annotation",
            BaseMethod::History => "history",
            BaseMethod::None => "none",
        }
    }
}

/// The base image of the scanned image, as the report states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImage {
    pub method: BaseMethod,
    /// The base as `--base` or the annotation names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The base's manifest digest (config digest for an archive without a manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Layers `0..layers` are the base's.
    pub layers: usize,
    /// History entries `0..history` are the base's build steps.
    pub history: usize,
    /// Why a more trusted method was not used (an annotation that did not resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl BaseImage {
    /// One line: `alpine:3.20 (--base, 1 layer)`, `history (2 layers)`, `none found`.
    pub fn describe(&self) -> String {
        let layers = match self.layers {
            1 => "1 layer".to_string(),
            n => format!("{n} layers"),
        };
        let mut text = match (&self.reference, self.method) {
            (_, BaseMethod::None) => "none found".to_string(),
            (Some(reference), method) => format!("{reference} ({}, {layers})", method.as_str()),
            (None, method) => format!("{} ({layers})", method.as_str()),
        };
        if let Some(detail) = &self.detail {
            text.push_str(&format!("; {detail}"));
        }
        text
    }
}

/// The base image and, per layer, the history entry that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    pub base: BaseImage,
    /// For each layer, its history entry; empty when the history does not pair with the
    /// layers (squashed or hand-made configs).
    layer_steps: Vec<usize>,
    /// `created_by` of every history entry.
    created_by: Vec<String>,
}

impl Lineage {
    /// The base as the history suggests it, for an image of `layers` layers.
    pub fn guess(meta: &ImageMeta, layers: usize) -> Lineage {
        let steps = history::steps(&meta.config);
        let mut lineage = Lineage::with_base(meta, layers, BaseMethod::None, 0, 0);
        match base_end(&steps) {
            Some(end) => {
                lineage.base.method = BaseMethod::History;
                lineage.base.history = end;
                lineage.base.layers = steps[..end]
                    .iter()
                    .filter(|s| !s.empty_layer)
                    .count()
                    .min(layers);
            }
            None => {
                lineage.base.detail = Some(
                    "the history has no base image's CMD or ENTRYPOINT before this image's \
                     own steps"
                        .to_string(),
                );
            }
        }
        lineage
    }

    /// The base is `base`, read from `reference`: its layers must be the first layers of
    /// `facts`' image.
    pub fn from_base(
        meta: &ImageMeta,
        base: &ImageMeta,
        method: BaseMethod,
        reference: &str,
    ) -> Result<Lineage, String> {
        let ours = &meta.layers;
        let theirs = &base.layers;
        if let Some(i) =
            (0..theirs.len()).find(|&i| ours.get(i).map(|l| &l.diff_id) != Some(&theirs[i].diff_id))
        {
            return Err(format!(
                "{reference} is not a base of this image: its layer {i} ({}) is not this \
                 image's layer {i}",
                theirs[i].diff_id
            ));
        }
        let history = history::steps(&base.config).len();
        let mut lineage = Lineage::with_base(meta, ours.len(), method, theirs.len(), history);
        lineage.base.reference = Some(reference.to_string());
        lineage.base.digest = Some(
            base.manifest_digest
                .clone()
                .unwrap_or_else(|| base.config_digest.clone()),
        );
        Ok(lineage)
    }

    fn with_base(
        meta: &ImageMeta,
        image_layers: usize,
        method: BaseMethod,
        layers: usize,
        history: usize,
    ) -> Lineage {
        let config = &meta.config;
        Lineage {
            base: BaseImage {
                method,
                reference: None,
                digest: None,
                layers,
                history,
                detail: None,
            },
            layer_steps: history::layer_steps(config, image_layers),
            created_by: history::steps(config)
                .iter()
                .map(|s| s.created_by.trim().to_string())
                .collect(),
        }
    }

    /// The build step of history entry `index`, when the history says one.
    fn step(&self, index: usize) -> Option<String> {
        self.created_by
            .get(index)
            .filter(|c| !c.is_empty())
            .cloned()
    }

    /// Which part a layer is.
    pub fn part_of_layer(&self, layer: usize) -> Part {
        if layer < self.base.layers {
            Part::Base
        } else {
            Part::Image
        }
    }

    /// Where `finding` came from: the layer holding its evidence, or the history step it
    /// is about. A finding about another config field (`config.User`, `config.Env[2]`) is
    /// this image's: its build wrote the config last, and can change any field of it (as
    /// Docker Scout attributes them).
    pub fn origin(&self, finding: &Finding) -> Origin {
        if let Some(layer) = finding.location.layer {
            let history = self.layer_steps.get(layer).copied();
            return Origin {
                part: self.part_of_layer(layer),
                layer: Some(layer),
                history,
                created_by: history.and_then(|h| self.step(h)),
            };
        }
        if let Some(step) = finding.location.config.as_deref().and_then(history_index) {
            let layer = self.layer_steps.iter().position(|&s| s == step);
            return Origin {
                part: if step < self.base.history {
                    Part::Base
                } else {
                    Part::Image
                },
                layer,
                history: Some(step),
                created_by: self.step(step),
            };
        }
        Origin {
            part: Part::Image,
            layer: None,
            history: None,
            created_by: None,
        }
    }
}

/// The number of history entries that are the base image's, when the history shows where
/// it ends: the image's own trailing metadata steps (`CMD`, `USER`, `EXPOSE` ...) are
/// skipped, and the last `CMD` or `ENTRYPOINT` step before them ends the base.
fn base_end(steps: &[history::Step]) -> Option<usize> {
    let own_metadata = steps.iter().rev().take_while(|s| s.empty_layer).count();
    let before = &steps[..steps.len() - own_metadata];
    before
        .iter()
        .rposition(|s| {
            s.empty_layer
                && matches!(
                    history::instruction(s.created_by),
                    Instruction::Other { keyword, .. } if keyword == "CMD" || keyword == "ENTRYPOINT"
                )
        })
        .map(|last| last + 1)
}

/// `history[3].created_by` → 3.
fn history_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("history[")?
        .split_once(']')?
        .0
        .parse()
        .ok()
}

/// The base image the image names of itself: `(name, digest)` from its manifest annotations
/// or, failing those, its config labels.
pub fn annotated_base(meta: &ImageMeta) -> Option<(String, Option<String>)> {
    let labels = meta
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default();
    let get = |key: &str| {
        meta.annotations
            .get(key)
            .or_else(|| labels.get(key))
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
    };
    Some((get(BASE_NAME)?, get(BASE_DIGEST)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps<'a>(entries: &[(&'a str, bool)]) -> Vec<history::Step<'a>> {
        entries
            .iter()
            .enumerate()
            .map(|(index, &(created_by, empty_layer))| history::Step {
                index,
                created_by,
                empty_layer,
            })
            .collect()
    }

    #[test]
    fn the_base_ends_with_its_last_cmd_before_the_images_own_steps() {
        let add = ("/bin/sh -c #(nop) ADD file:0a1b in / ", false);
        let base_cmd = ("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", true);
        let run = ("RUN /bin/sh -c apk add curl # buildkit", false);
        let copy = ("COPY app /app # buildkit", false);
        let cmd = ("CMD [\"/app\"]", true);
        let user = ("USER app", true);
        let entrypoint = ("ENTRYPOINT [\"/app\"] # buildkit", true);
        type History<'a> = &'a [(&'a str, bool)];
        let cases: &[(History, Option<usize>)] = &[
            (&[add, base_cmd, run, copy, entrypoint, cmd], Some(2)),
            (&[add, base_cmd, run, user, copy, cmd], Some(2)),
            // A base of a base: the last base CMD ends the base.
            (&[add, base_cmd, run, cmd, copy, user], Some(4)),
            // The base image itself: its own CMD is trailing metadata.
            (&[add, base_cmd], None),
            // `docker import` or FROM scratch: no base step at all.
            (&[("", false), copy, cmd], None),
            (&[], None),
        ];
        for (entries, expected) in cases {
            assert_eq!(base_end(&steps(entries)), *expected, "{entries:?}");
        }
    }

    #[test]
    fn history_fields_name_their_entry() {
        assert_eq!(history_index("history[3].created_by"), Some(3));
        assert_eq!(history_index("history[x].created_by"), None);
        assert_eq!(history_index("config.User"), None);
    }
}
