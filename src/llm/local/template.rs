//! Chat templates: the model's own Jinja `tokenizer.chat_template`, rendered with minijinja.

use minijinja::{Environment, ErrorKind, context};

use crate::llm::Message;

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

/// ChatML, the format of Qwen models, for GGUF files that carry no template.
pub const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

impl ChatTemplate {
    /// Compiles a Jinja chat template as Hugging Face writes them (Python string methods included).
    pub fn new(source: &str) -> Result<ChatTemplate, String> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source.to_string()).map_err(|e| format!("chat template: {e}"))?;
        Ok(ChatTemplate { env })
    }

    /// Renders a conversation, ending with the prompt for the assistant's turn.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        self.render_with(messages, true)
    }

    /// Renders a whole conversation, its last turn closed (no prompt for another).
    pub fn render_finished(&self, messages: &[Message]) -> Result<String, String> {
        self.render_with(messages, false)
    }

    /// Renders the turns before the last message, as they begin `whole`, the conversation's
    /// rendering; `None` when the template renders them differently (then nothing is reused).
    pub fn render_prefix(&self, messages: &[Message], whole: &str) -> Option<String> {
        let (_, earlier) = messages.split_last()?;
        let prefix = self.render_finished(earlier).ok()?;
        (!prefix.is_empty() && whole.starts_with(&prefix)).then_some(prefix)
    }

    fn render_with(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, String> {
        let template = self.env.get_template("chat").map_err(|e| e.to_string())?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                tools => Option::<()>::None,
                bos_token => "",
                eos_token => "",
            })
            .map_err(|e| format!("chat template: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chatml() {
        let template = ChatTemplate::new(CHATML).unwrap();
        let text = template.render(&[Message::system("S"), Message::user("U")]).unwrap();
        assert_eq!(text, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn prefix_is_the_turns_before_the_last() {
        let template = ChatTemplate::new(CHATML).unwrap();
        let messages = [Message::system("S"), Message::user("U")];
        let whole = template.render(&messages).unwrap();
        assert_eq!(template.render_prefix(&messages, &whole).unwrap(), "<|im_start|>system\nS<|im_end|>\n");
        assert_eq!(template.render_prefix(&messages[..1], &whole), None, "no earlier turns, no prefix");
    }

    #[test]
    fn python_methods_and_raise_exception_work() {
        let source = "{% if messages[0].content.startswith('x') %}{{ raise_exception('no') }}{% endif %}{{ messages[0].content.strip() }}";
        let template = ChatTemplate::new(source).unwrap();
        assert_eq!(template.render(&[Message::user(" hi ")]).unwrap(), "hi");
        assert!(template.render(&[Message::user("xy")]).is_err());
    }
}
