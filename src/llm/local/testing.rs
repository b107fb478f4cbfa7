//! A tiny random-weight Qwen2 GGUF, written by tests so the real loader, tokenizer, chat template
//! and generation code run without downloading a model.
#![doc(hidden)]

use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};

use super::bytes::bytes_token;

/// Dimensions of the tiny model.
pub const HIDDEN: usize = 64;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const FFN: usize = 128;
const LAYERS: usize = 2;
const CONTEXT: u32 = 4096;

/// Multi-byte words given their own tokens, so a test can see whether Han text is generated.
pub const HAN_WORDS: &[&str] = &["宝山", "上海", "转型", "。", "，"];

/// The vocabulary: 256 byte tokens, a few merges, the Han words, then the special tokens.
fn vocabulary() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| bytes_token(&[b])).collect();
    let mut merges = Vec::new();
    for (left, right) in [(" ", "t"), ("h", "e"), (" t", "he"), ("i", "n"), (" ", "a")] {
        merges.push(format!("{} {}", bytes_token(left.as_bytes()), bytes_token(right.as_bytes())));
        tokens.push(bytes_token(format!("{left}{right}").as_bytes()));
    }
    for word in HAN_WORDS {
        // Build each word's bytes left to right through merges, as BPE would.
        let bytes = word.as_bytes();
        for end in 2..=bytes.len() {
            let merged = bytes_token(&bytes[..end]);
            if !tokens.contains(&merged) {
                merges.push(format!("{} {}", bytes_token(&bytes[..end - 1]), bytes_token(&bytes[end - 1..end])));
                tokens.push(merged);
            }
        }
    }
    let mut types = vec![1i32; tokens.len()];
    for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(special.to_string());
        types.push(3);
    }
    (tokens, merges, types)
}

/// Deterministic pseudo-random weights (a fixed LCG: no RNG crate, same bytes everywhere).
fn weights(rows: usize, cols: usize, seed: u64, scale: f32) -> Tensor {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu).expect("shape matches")
}

fn quantized(tensor: &Tensor, dtype: GgmlDType) -> QTensor {
    QTensor::quantize(tensor, dtype).expect("tiny tensors quantise")
}

/// Writes the tiny model to `path`, its weight matrices in Q8_0.
pub fn write_tiny_qwen2(path: &Path) -> candle_core::Result<()> {
    write_tiny_qwen2_as(path, GgmlDType::Q8_0)
}

/// Writes the tiny model to `path` with its weight matrices in `format` (F32 for exact references).
pub fn write_tiny_qwen2_as(path: &Path, format: GgmlDType) -> candle_core::Result<()> {
    write_tiny(path, format, false)
}

/// Writes the tiny model without an output matrix: its embedding table serves as both, as in
/// models with tied embeddings.
pub fn write_tiny_qwen2_tied(path: &Path, format: GgmlDType) -> candle_core::Result<()> {
    write_tiny(path, format, true)
}

fn write_tiny(path: &Path, format: GgmlDType, tied: bool) -> candle_core::Result<()> {
    let (tokens, merges, types) = vocabulary();
    let vocab = tokens.len();
    // K-quants need rows of whole 256-weight blocks: those models are four times as wide.
    let block = format.block_size();
    let (hidden, ffn) = (HIDDEN.div_ceil(block) * block, FFN.div_ceil(block) * block);
    let kv = hidden / HEADS as usize * KV_HEADS as usize;
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let ones = |n: usize| Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).expect("ones");
    tensors.push(("token_embd.weight".into(), quantized(&weights(vocab, hidden, 1, 1.0), format)));
    tensors.push(("output_norm.weight".into(), quantized(&ones(hidden), GgmlDType::F32)));
    if !tied {
        tensors.push(("output.weight".into(), quantized(&weights(vocab, hidden, 2, 0.5), format)));
    }
    for layer in 0..LAYERS {
        let seed = 100 + layer as u64 * 10;
        let p = |name: &str| format!("blk.{layer}.{name}");
        tensors.push((p("attn_q.weight"), quantized(&weights(hidden, hidden, seed, 0.2), format)));
        tensors.push((p("attn_k.weight"), quantized(&weights(kv, hidden, seed + 1, 0.2), format)));
        tensors.push((p("attn_v.weight"), quantized(&weights(kv, hidden, seed + 2, 0.2), format)));
        tensors.push((p("attn_q.bias"), quantized(&weights(1, hidden, seed + 3, 0.1).flatten_all()?, GgmlDType::F32)));
        tensors.push((p("attn_k.bias"), quantized(&weights(1, kv, seed + 4, 0.1).flatten_all()?, GgmlDType::F32)));
        tensors.push((p("attn_v.bias"), quantized(&weights(1, kv, seed + 5, 0.1).flatten_all()?, GgmlDType::F32)));
        tensors.push((p("attn_output.weight"), quantized(&weights(hidden, hidden, seed + 6, 0.2), format)));
        tensors.push((p("ffn_gate.weight"), quantized(&weights(ffn, hidden, seed + 7, 0.2), format)));
        tensors.push((p("ffn_up.weight"), quantized(&weights(ffn, hidden, seed + 8, 0.2), format)));
        tensors.push((p("ffn_down.weight"), quantized(&weights(hidden, ffn, seed + 9, 0.2), format)));
        tensors.push((p("attn_norm.weight"), quantized(&ones(hidden), GgmlDType::F32)));
        tensors.push((p("ffn_norm.weight"), quantized(&ones(hidden), GgmlDType::F32)));
    }

    use gguf_file::Value;
    let strings = |items: &[String]| Value::Array(items.iter().map(|s| Value::String(s.clone())).collect());
    let eos = (vocab - 1) as u32; // <|im_end|>
    // A Qwen-style template, with the Python string methods real templates use.
    let template = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content.strip() + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("qwen2".into())),
        ("general.name", Value::String("zhbrief tiny test model".into())),
        ("qwen2.attention.head_count", Value::U32(HEADS)),
        ("qwen2.attention.head_count_kv", Value::U32(KV_HEADS)),
        ("qwen2.embedding_length", Value::U32(hidden as u32)),
        ("qwen2.context_length", Value::U32(CONTEXT)),
        ("qwen2.block_count", Value::U32(LAYERS as u32)),
        ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("qwen2.rope.freq_base", Value::F32(10000.0)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("qwen2".into())),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        ("tokenizer.ggml.merges", strings(&merges)),
        ("tokenizer.ggml.token_type", Value::Array(types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.eos_token_id", Value::U32(eos)),
        ("tokenizer.chat_template", Value::String(template.into())),
    ];
    let metadata_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path)?;
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::local::Model;
    use crate::llm::{Drafts, GenerateOptions, Generation, Message, Sampling};
    use crate::text::is_han;

    fn tiny_model() -> (tempfile::TempDir, Model) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write_tiny_qwen2(&path).unwrap();
        let model = Model::load(&path).unwrap();
        (dir, model)
    }

    #[test]
    fn tokenizer_from_gguf_round_trips() {
        let (_dir, model) = tiny_model();
        let text = "上海宝山 the thin 转型。";
        let ids = model.encode(text).unwrap();
        assert!(ids.contains(&model.tokenizer().token_to_id(&bytes_token("宝山".as_bytes())).unwrap()));
        assert_eq!(model.tokenizer().decode(&ids, true).unwrap(), text);
        let chat = model.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
        assert_eq!(chat[0], model.tokenizer().token_to_id("<|im_start|>").unwrap());
    }

    #[test]
    fn generation_is_deterministic_and_capped() {
        let (_dir, mut model) = tiny_model();
        let messages = [Message::system("你是新闻编辑。"), Message::user("总结：上海宝山转型。")];
        let options = GenerateOptions { max_new_tokens: 24, ..GenerateOptions::default() };
        let mut streamed = String::new();
        let first = model.chat(&messages, &options, &mut |t| streamed.push_str(t)).unwrap();
        let second = model.chat(&messages, &options, &mut |_| {}).unwrap();
        assert_eq!(first.text, second.text);
        assert!(first.generated_tokens <= 24 && first.prompt_tokens > 10);
        assert_eq!(streamed.trim(), first.text.trim_end_matches('\u{FFFD}').trim());

        let sampling = Some(Sampling { temperature: 0.8, top_p: 0.95, seed: 7 });
        let sampled = GenerateOptions { sampling, ..options.clone() };
        let a = model.chat(&messages, &sampled, &mut |_| {}).unwrap();
        let b = model.chat(&messages, &sampled, &mut |_| {}).unwrap();
        assert_eq!(a.text, b.text, "a fixed seed repeats");
    }

    #[test]
    fn drafted_tokens_change_no_reply() {
        // A repetitive prompt, and replies long enough for the tiny model to repeat itself: the
        // drafts are checked, some taken, some refused, and every reply is the plain one.
        let messages = [Message::user("宝山宝山上海转型。".repeat(6))];
        let (_dir, mut model) = tiny_model();
        let (mut proposed, mut accepted) = (0, 0);
        for (max_new_tokens, repeat_penalty, english_only) in [(80, 1.0, false), (60, 1.1, false), (40, 1.0, true), (7, 1.0, false)] {
            let plain =
                GenerateOptions { max_new_tokens, repeat_penalty, english_only, prompt_lookup: false, ..GenerateOptions::default() };
            let drafted = GenerateOptions { prompt_lookup: true, ..plain.clone() };
            let (mut plain_stream, mut drafted_stream) = (String::new(), String::new());
            let a = model.chat(&messages, &plain, &mut |t| plain_stream.push_str(t)).unwrap();
            let b = model.chat(&messages, &drafted, &mut |t| drafted_stream.push_str(t)).unwrap();
            assert_eq!(
                (&a.text, a.generated_tokens, a.hit_token_cap),
                (&b.text, b.generated_tokens, b.hit_token_cap),
                "{max_new_tokens} tokens"
            );
            assert_eq!(plain_stream, drafted_stream);
            assert_eq!(a.drafts, Drafts::default());
            proposed += b.drafts.proposed;
            accepted += b.drafts.accepted;
        }
        assert!(accepted > 0 && accepted < proposed, "{accepted} of {proposed} drafted tokens taken");
    }

    #[test]
    fn a_reply_begun_again_is_the_same_whatever_the_cache_and_drafts() {
        let messages = [Message::system("你是新闻编辑。"), Message::user("总结：上海宝山转型。".repeat(3))];
        let options = GenerateOptions { max_new_tokens: 40, repeat_penalty: 1.0, ..GenerateOptions::default() };
        let start = "Baoshan";
        let (_dir, mut cold) = tiny_model();
        let plain = cold.continue_reply(&messages, start, &[], "", &options).unwrap();
        assert!(plain.generated_tokens > 20 && plain.drafts == Drafts::default(), "{plain:?}");
        let summary = |g: &Generation| (g.text.clone(), g.generated_tokens, g.hit_token_cap);

        // The reply being redone drafts the continuation: some drafts taken, some refused (this
        // model writes bytes that are no text, so its reply read back differs), nothing changed.
        let (_dir, mut model) = tiny_model();
        let drafted = model.continue_reply(&messages, start, &[], &plain.text[start.len()..], &options).unwrap();
        assert_eq!(summary(&drafted), summary(&plain));
        assert!(drafted.drafts.accepted > 0 && drafted.drafts.accepted < drafted.drafts.proposed, "{:?}", drafted.drafts);

        // After candidates for the same conversation, and again from the same start after them:
        // the cache they leave serves, and the reply is the one a fresh model gives.
        let sampled: Vec<GenerateOptions> = (1..4)
            .map(|seed| GenerateOptions { sampling: Some(Sampling { temperature: 1.2, top_p: 0.95, seed }), ..options.clone() })
            .collect();
        for _ in 0..2 {
            model.chat_candidates(&messages, &sampled, &mut |_| {}).unwrap();
            let again = model.continue_reply(&messages, start, &[], "", &options).unwrap();
            assert_eq!(summary(&again), summary(&plain));
            assert_eq!(again.prompt_tokens, plain.prompt_tokens);
            let barred = model.continue_reply(&messages, start, &[" the".into()], "", &options).unwrap();
            let (_dir, mut cold) = tiny_model();
            assert_eq!(summary(&barred), summary(&cold.continue_reply(&messages, start, &[" the".into()], "", &options).unwrap()));
        }
    }

    #[test]
    fn a_reused_prompt_prefix_changes_nothing() {
        // A system prompt long enough for the batched (f32) path, then two different questions.
        let system = Message::system("你是新闻编辑。".repeat(12));
        let first = [system.clone(), Message::user("总结：上海宝山转型。")];
        let second = [system, Message::user("宝山宝山上海转型。".repeat(5))];
        let options = GenerateOptions { max_new_tokens: 16, ..GenerateOptions::default() };
        let (_dir, mut warm) = tiny_model();
        warm.chat(&first, &options, &mut |_| {}).unwrap();
        let split = |model: &Model| model.last_prompt.as_ref().map(|last| last.tokens[..last.split].to_vec()).unwrap();
        let prefix = split(&warm);
        assert!(prefix.len() > 40, "the system turn is kept: {} tokens", prefix.len());
        let reused = warm.chat(&second, &options, &mut |_| {}).unwrap();
        assert_eq!(split(&warm), prefix);
        let (_dir2, mut cold) = tiny_model();
        let fresh = cold.chat(&second, &options, &mut |_| {}).unwrap();
        assert_eq!(reused.text, fresh.text);
        assert!(reused.generated_tokens > 0);

        // Another candidate for the same prompt starts from its kept logits and cache.
        let sampled = GenerateOptions { sampling: Some(Sampling { temperature: 0.9, top_p: 0.95, seed: 3 }), ..options };
        let again = warm.chat(&second, &sampled, &mut |_| {}).unwrap();
        assert!(warm.last_prompt.as_ref().is_some_and(|last| last.tokens.len() == fresh.prompt_tokens));
        let (_dir3, mut cold) = tiny_model();
        assert_eq!(again.text, cold.chat(&second, &sampled, &mut |_| {}).unwrap().text);
    }

    #[test]
    fn candidates_decoded_together_equal_each_decoded_alone() {
        let messages = [Message::system("你是新闻编辑。"), Message::user("总结：上海宝山转型。")];
        let greedy = GenerateOptions { max_new_tokens: 20, english_only: true, ..GenerateOptions::default() };
        let mut options = vec![greedy.clone()];
        for seed in 1..4 {
            options.push(GenerateOptions { sampling: Some(Sampling { temperature: 1.2, top_p: 0.95, seed }), ..greedy.clone() });
        }
        // One candidate stops at its cap long before the others.
        options.push(GenerateOptions { max_new_tokens: 3, ..options[1].clone() });
        let (_dir, mut model) = tiny_model();
        let mut streamed = String::new();
        let together = model.chat_candidates(&messages, &options, &mut |t| streamed.push_str(t)).unwrap();
        let texts: Vec<&str> = together.iter().map(|g| g.text.as_str()).collect();
        assert!(texts[1..4].iter().any(|t| t != &texts[0]), "sampling varies the candidates: {texts:?}");
        assert_eq!(streamed.trim(), texts[0], "the first candidate is streamed");
        for (option, generation) in options.iter().zip(&together) {
            let (_dir, mut alone) = tiny_model();
            let single = alone.chat(&messages, option, &mut |_| {}).unwrap();
            let summary = |g: &Generation| (g.text.clone(), g.generated_tokens, g.hit_token_cap);
            assert_eq!(summary(generation), summary(&single), "{option:?}");
        }
        // The same prompt again: one candidate from the kept prompt, after the cache was split.
        assert_eq!(model.chat(&messages, &options[2], &mut |_| {}).unwrap().text, together[2].text);
    }

    #[test]
    fn conversations_decoded_together_equal_each_decoded_alone() {
        // Prompts of different lengths sharing their system turn, as a brief's units do; one
        // reply stops at its cap at once, one at the very first token.
        let system = Message::system("你是新闻编辑。");
        let conversations = [
            vec![system.clone(), Message::user("总结：上海宝山转型。")],
            vec![system.clone(), Message::user("宝山")],
            vec![system.clone(), Message::user("上海宝山转型，宝山上海。宝山宝山。")],
        ];
        let greedy = GenerateOptions { max_new_tokens: 20, english_only: true, ..GenerateOptions::default() };
        let sampled = |seed| GenerateOptions { sampling: Some(Sampling { temperature: 1.2, top_p: 0.95, seed }), ..greedy.clone() };
        let options = [
            vec![greedy.clone(), sampled(1), sampled(2)],
            vec![GenerateOptions { max_new_tokens: 1, ..greedy.clone() }, sampled(3)],
            vec![sampled(4), GenerateOptions { max_new_tokens: 30, english_only: false, ..sampled(5) }],
        ];
        let requests: Vec<(&[Message], &[GenerateOptions])> =
            conversations.iter().zip(&options).map(|(c, o)| (c.as_slice(), o.as_slice())).collect();
        let (_dir, mut model) = tiny_model();
        let together = model.chat_together(&requests).unwrap();
        let summary = |g: &Generation| (g.text.clone(), g.generated_tokens, g.hit_token_cap, g.prompt_tokens);
        for ((messages, options), replies) in requests.iter().zip(&together) {
            assert_eq!(replies.len(), options.len());
            for (option, reply) in options.iter().zip(replies) {
                let (_dir, mut alone) = tiny_model();
                assert_eq!(summary(reply), summary(&alone.chat(messages, option, &mut |_| {}).unwrap()), "{option:?}");
            }
        }
        // The model goes on as after any call: a conversation sharing the system turn, then
        // the first again, each what a fresh model gives.
        for messages in [&conversations[1], &conversations[0]] {
            let (_dir, mut fresh) = tiny_model();
            let expected = fresh.chat(messages, &options[0][1], &mut |_| {}).unwrap();
            assert_eq!(summary(&model.chat(messages, &options[0][1], &mut |_| {}).unwrap()), summary(&expected));
        }
    }

    #[test]
    fn a_reply_scores_what_the_model_gives_it_token_by_token() {
        let system = Message::system("你是新闻编辑。".repeat(12));
        let messages = [system.clone(), Message::user("总结：上海宝山转型。")];
        let reply = "the 宝山 in 上海, then the rest";
        let (_dir, mut model) = tiny_model();
        let (score, scored) = model.reply_log_prob(&messages, reply).unwrap();
        // A reply longer than one batch of prompt tokens is scored across batches.
        let long_reply = "the 宝山 in 上海, then the rest. ".repeat(30);
        for reply in [reply, long_reply.as_str()] {
            let (score, scored) = model.reply_log_prob(&messages, reply).unwrap();
            // The same tokens fed one at a time, each next token's log-probability read off.
            let prompt = model.template.render(&messages).unwrap();
            let whole = model.template.render_finished(&[messages[0].clone(), messages[1].clone(), Message::assistant(reply)]).unwrap();
            let mut tokens = model.encode(&prompt).unwrap();
            let prompt_len = tokens.len();
            tokens.extend(model.encode(&whole[prompt.len()..]).unwrap());
            assert_eq!(scored, tokens.len() - prompt_len);
            model.lm.reset().unwrap();
            let mut expected = 0.0;
            for (i, pair) in tokens.windows(2).enumerate() {
                let logits = model.lm.forward(&pair[..1], i).unwrap();
                if i + 1 >= prompt_len {
                    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let log_sum = max + logits.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
                    expected += f64::from(logits[pair[1] as usize] - log_sum);
                }
            }
            assert!(score < 0.0 && (score - expected).abs() < 1e-3 * expected.abs(), "{score} vs {expected}");
        }
        assert!(model.reply_log_prob(&messages, &long_reply).unwrap().1 > crate::llm::local::generate::PROMPT_BATCH, "spans batches");

        // What the cache held before never changes a score, and scoring leaves generation as it was.
        let (_dir, mut warm) = tiny_model();
        let options = GenerateOptions { max_new_tokens: 8, ..GenerateOptions::default() };
        let other = [system, Message::user("宝山宝山上海转型。".repeat(5))];
        let generated = warm.chat(&other, &options, &mut |_| {}).unwrap();
        let (_dir, mut cold) = tiny_model();
        assert_eq!(warm.reply_log_prob(&messages, reply).unwrap(), cold.reply_log_prob(&messages, reply).unwrap());
        assert_eq!(warm.reply_log_prob(&messages, reply).unwrap(), (score, scored), "scoring again");
        assert_eq!(warm.chat(&other, &options, &mut |_| {}).unwrap().text, generated.text);
        assert!(model.reply_log_prob(&messages, "the the the the the the the the").unwrap() != (score, scored));
    }

    #[test]
    fn replies_to_several_conversations_score_as_each_alone() {
        let system = Message::system("你是新闻编辑。".repeat(3));
        let asks = ["总结：上海宝山转型。", "Translate: the 宝山 district", &"宝山宝山上海转型。".repeat(8)];
        let conversations: Vec<[Message; 2]> = asks.iter().map(|ask| [system.clone(), Message::user(*ask)]).collect();
        let slices: Vec<&[Message]> = conversations.iter().map(|c| c.as_slice()).collect();
        let reply = "上海宝山转型。";
        let (_dir, mut model) = tiny_model();
        let alone: Vec<(f64, usize)> = slices.iter().map(|c| model.reply_log_prob(c, reply).unwrap()).collect();
        let together = model.reply_log_probs(&slices, reply).unwrap();
        for ((a, a_len), (b, b_len)) in together.iter().zip(&alone) {
            assert_eq!(a_len, b_len);
            assert!((a - b).abs() < 1e-4 * b.abs(), "{a} vs {b}");
        }
        assert!(together.windows(2).all(|w| w[0].0 != w[1].0), "each conversation scored as itself: {together:?}");
        // Conversations without common earlier turns are scored one at a time.
        let other = [Message::system("另一个"), Message::user(asks[0])];
        let mixed = model.reply_log_probs(&[slices[0], &other], reply).unwrap();
        assert_eq!(mixed, vec![alone[0], model.reply_log_prob(&other, reply).unwrap()]);
    }

    #[test]
    fn english_only_never_spells_han() {
        let (_dir, mut model) = tiny_model();
        let messages = [Message::user("宝山宝山宝山上海上海转型。")];
        let free = GenerateOptions { max_new_tokens: 200, repeat_penalty: 1.0, ..GenerateOptions::default() };
        let english = GenerateOptions { english_only: true, ..free.clone() };
        let constrained = model.chat(&messages, &english, &mut |_| {}).unwrap();
        assert!(!constrained.text.chars().any(|c| is_han(c) || ('\u{3000}'..='\u{303F}').contains(&c)), "{}", constrained.text);
        let allowed = model.english_tokens(model.tokenizer().get_vocab_size(true)).clone();
        for word in HAN_WORDS {
            let id = model.tokenizer().token_to_id(&bytes_token(word.as_bytes())).unwrap();
            assert!(!allowed[id as usize], "{word} must be masked");
        }
        assert!(allowed[model.tokenizer().token_to_id(&bytes_token(b" the")).unwrap() as usize]);
        assert!(allowed[model.tokenizer().token_to_id("<|im_end|>").unwrap() as usize]);
        // Unconstrained, the random model does produce Han tokens: the mask is what stops them.
        let unconstrained = model.chat(&messages, &free, &mut |_| {}).unwrap();
        assert!(unconstrained.text.chars().any(is_han), "{}", unconstrained.text);
    }
}
