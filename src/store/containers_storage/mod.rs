//! containers-storage (STUB — being implemented; see CONTAINERS-STORAGE.md).

use std::path::PathBuf;

use crate::archive::Entry;
use crate::bail;
use crate::error::Result;
use crate::image::layer::LayerSink;
use crate::image::{ImageParts, LayerDesc};
use crate::store::{StorageSpec, StoredImage};

/// An opened store.
#[derive(Debug)]
pub struct Store;

/// A layer being extracted.
#[derive(Debug)]
pub struct LayerWriter;

/// A layer committed, with layers.lock still held.
#[derive(Debug)]
pub struct PendingImage;

/// The result of writing an image.
#[derive(Debug, Clone)]
pub struct CommittedImage {
    /// Image ID.
    pub id: String,
    /// Top layer ID.
    pub layer_id: String,
    /// Names the image now carries.
    pub names: Vec<String>,
    /// Graph root.
    pub graphroot: PathBuf,
    /// Driver.
    pub driver: String,
}

impl Store {
    /// Open the store.
    ///
    /// # Errors
    /// Not implemented.
    pub fn open(_spec: &StorageSpec) -> Result<Store> {
        bail!("containers-storage is not implemented yet")
    }
    /// Begin a layer.
    ///
    /// # Errors
    /// Not implemented.
    pub fn begin_layer(self) -> Result<LayerWriter> {
        bail!("containers-storage is not implemented yet")
    }
}

impl LayerSink for LayerWriter {
    fn raw(&mut self, _bytes: &[u8]) -> Result<()> {
        Ok(())
    }
    fn begin(&mut self, _entry: &Entry) -> Result<()> {
        Ok(())
    }
    fn body(&mut self, _chunk: &[u8]) -> Result<()> {
        Ok(())
    }
}

impl LayerWriter {
    /// Commit the layer.
    ///
    /// # Errors
    /// Not implemented.
    pub fn commit(self, _diff_id: &str, _diff_size: u64) -> Result<PendingImage> {
        bail!("containers-storage is not implemented yet")
    }
}

impl PendingImage {
    /// Commit the image.
    ///
    /// # Errors
    /// Not implemented.
    pub fn commit_image(
        self,
        _parts: &ImageParts,
        _layer: &LayerDesc,
        _names: &[String],
        _created: &str,
    ) -> Result<CommittedImage> {
        bail!("containers-storage is not implemented yet")
    }
}

/// Read an image by name or ID.
///
/// # Errors
/// Not implemented.
pub fn read_image(_spec: &StorageSpec, _name: &str) -> Result<StoredImage> {
    bail!("containers-storage is not implemented yet")
}
