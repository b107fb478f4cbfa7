//! The Qwen2 family (Qwen2, Qwen2.5, Qwen2.5-Coder) through candle-transformers' quantised model.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_qwen2::ModelWeights;

use super::CausalLm;

/// A loaded Qwen2 model.
pub struct Qwen2 {
    weights: ModelWeights,
    device: Device,
}

impl Qwen2 {
    /// Loads the weights of a parsed GGUF file.
    pub fn load<R: std::io::Read + std::io::Seek>(
        content: gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> candle_core::Result<Qwen2> {
        let weights = ModelWeights::from_gguf(content, reader, device)?;
        Ok(Qwen2 { weights, device: device.clone() })
    }
}

impl CausalLm for Qwen2 {
    fn forward(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<f32>> {
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = self.weights.forward(&input, position)?;
        logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?.to_vec1()
    }

    fn reset(&mut self) {
        self.weights.clear_kv_cache();
    }
}
