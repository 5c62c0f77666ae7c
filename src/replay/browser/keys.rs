//! Keyboard input for browser replay: Recorder `keyDown`/`keyUp` steps as CDP key events
//! (`key`, `code`, virtual key code, text for printable keys, the modifiers earlier steps hold
//! down, editing `commands` for shortcuts), as Puppeteer's keyboard sends them.

use crate::flow::{Action, Step};
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType,
    InsertTextParams, MouseButton,
};
use chromiumoxide::keys::USKEYBOARD_LAYOUT;
use chromiumoxide::Page;

/// CDP modifier bits (`Input.dispatchKeyEvent` `modifiers`).
pub(crate) const ALT: i64 = 1;
pub(crate) const CTRL: i64 = 2;
pub(crate) const META: i64 = 4;
pub(crate) const SHIFT: i64 = 8;

/// The modifier bit a key is, if it is a modifier.
fn modifier_bit(key: &str) -> Option<i64> {
    match key {
        "Alt" => Some(ALT),
        "Control" => Some(CTRL),
        "Meta" => Some(META),
        "Shift" => Some(SHIFT),
        _ => None,
    }
}

/// The modifiers held down after `steps` (their modifier `keyDown`s not yet released).
pub(crate) fn held_after(steps: &[Step]) -> i64 {
    steps.iter().fold(0, |held, s| match &s.action {
        Action::KeyDown { key } => held | modifier_bit(key).unwrap_or(0),
        Action::KeyUp { key } => held & !modifier_bit(key).unwrap_or(0),
        _ => held,
    })
}

/// The editing command Chromium runs for a shortcut, when a key binding may not exist on
/// this platform (a flow recorded on a Mac with Meta replays on Linux).
fn command_for(key: &str, held: i64) -> Option<&'static str> {
    if held & (CTRL | META) == 0 || held & ALT != 0 {
        return None;
    }
    let shift = held & SHIFT != 0;
    Some(match key.to_ascii_lowercase().as_str() {
        "a" if !shift => "selectAll",
        "c" if !shift => "copy",
        "x" if !shift => "cut",
        "v" if !shift => "paste",
        "z" if shift => "redo",
        "z" => "undo",
        "y" if !shift => "redo",
        _ => return None,
    })
}

/// The CDP event for pressing (`down`) or releasing `key` while `held` modifiers are down
/// (a modifier's own bit counts on its press, not on its release).
pub(crate) fn key_event(key: &str, down: bool, held: i64) -> DispatchKeyEventParams {
    let modifiers = match modifier_bit(key) {
        Some(bit) if down => held | bit,
        Some(bit) => held & !bit,
        None => held,
    };
    let def = USKEYBOARD_LAYOUT.iter().find(|d| d.key == key);
    // Control, Alt or Meta turn a printable key into a shortcut: it types nothing.
    let text = if modifiers & (CTRL | ALT | META) != 0 {
        None
    } else {
        def.and_then(|d| d.text.map(str::to_string))
            .or_else(|| (key.chars().count() == 1).then(|| key.to_string()))
    };
    let kind = match (down, text.is_some()) {
        (false, _) => DispatchKeyEventType::KeyUp,
        (true, true) => DispatchKeyEventType::KeyDown,
        (true, false) => DispatchKeyEventType::RawKeyDown,
    };
    let mut p = DispatchKeyEventParams::new(kind);
    p.key = Some(key.to_string());
    p.modifiers = Some(modifiers);
    if let Some(d) = def {
        p.code = Some(d.code.to_string());
        p.windows_virtual_key_code = Some(d.key_code);
        p.native_virtual_key_code = Some(d.key_code);
        if d.code.ends_with("Left") && modifier_bit(key).is_some() {
            p.location = Some(1);
        }
    } else if let Some(c) = key.chars().next().filter(|_| key.chars().count() == 1) {
        // A character the US layout lacks: its upper-case code point is what Windows sends.
        let upper = c.to_ascii_uppercase();
        if upper.is_ascii_alphanumeric() {
            p.windows_virtual_key_code = Some(upper as i64);
        }
    }
    if down {
        if let Some(t) = text {
            p.unmodified_text = Some(t.clone());
            p.text = Some(t);
        }
        if let Some(cmd) = command_for(key, held) {
            p.commands = Some(vec![cmd.to_string()]);
        }
    }
    p
}

/// A `change` into a code editor or contenteditable: focus it (a click at `at`, where a person
/// would, unless focusing the element was enough), select all its text with Control+A as the
/// editor itself handles it, then type the new text over the selection.
pub(crate) async fn replace_editor_text(
    page: &Page,
    value: &str,
    at: (f64, f64),
    focused: bool,
) -> Result<(), String> {
    let err = |e: chromiumoxide::error::CdpError| format!("type into the editor: {e}");
    if !focused {
        for (kind, clicks) in [
            (DispatchMouseEventType::MouseMoved, 0),
            (DispatchMouseEventType::MousePressed, 1),
            (DispatchMouseEventType::MouseReleased, 1),
        ] {
            let mut p = DispatchMouseEventParams::new(kind, at.0, at.1);
            if clicks > 0 {
                p.button = Some(MouseButton::Left);
                p.click_count = Some(clicks);
            }
            page.execute(p).await.map_err(err)?;
        }
        // CodeMirror focuses its input a moment after a click on selected text (a drag
        // start): wait for a text input to have the focus, a second at most.
        let focused = "(() => { const a = document.activeElement; \
            return !!a && (a.tagName === 'TEXTAREA' || a.isContentEditable); })()";
        for _ in 0..40 {
            if super::extract::evaluate(page, focused).await.ok() == Some(true.into()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    let keys = [
        ("Control", true, 0),
        ("a", true, CTRL),
        ("a", false, CTRL),
        ("Control", false, CTRL),
    ];
    for (key, down, held) in keys {
        page.execute(key_event(key, down, held))
            .await
            .map_err(err)?;
    }
    if value.is_empty() {
        for down in [true, false] {
            page.execute(key_event("Delete", down, 0))
                .await
                .map_err(err)?;
        }
    } else {
        page.execute(InsertTextParams::new(value))
            .await
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_step(down: bool, key: &str) -> Step {
        let key = key.to_string();
        Step::new(if down {
            Action::KeyDown { key }
        } else {
            Action::KeyUp { key }
        })
    }

    #[test]
    fn modifiers_are_held_from_their_key_down_to_their_key_up() {
        let steps = [
            key_step(true, "Control"),
            key_step(true, "Shift"),
            key_step(true, "z"),
            key_step(false, "z"),
            key_step(false, "Shift"),
        ];
        assert_eq!(held_after(&steps[..1]), CTRL);
        assert_eq!(held_after(&steps[..3]), CTRL | SHIFT);
        assert_eq!(held_after(&steps), CTRL);
        assert_eq!(held_after(&[]), 0);
    }

    #[test]
    fn control_a_is_a_raw_select_all_without_text() {
        let e = key_event("a", true, CTRL);
        assert_eq!(e.r#type, DispatchKeyEventType::RawKeyDown);
        assert_eq!(e.modifiers, Some(CTRL));
        assert_eq!(e.code.as_deref(), Some("KeyA"));
        assert_eq!(e.windows_virtual_key_code, Some(65));
        assert_eq!(e.text, None);
        assert_eq!(e.commands, Some(vec!["selectAll".to_string()]));
        // Meta (a Mac's Command) means the same; Shift+Control+Z is redo.
        assert_eq!(
            key_event("a", true, META).commands,
            Some(vec!["selectAll".into()])
        );
        assert_eq!(
            key_event("Z", true, CTRL | SHIFT).commands,
            Some(vec!["redo".into()])
        );
        assert_eq!(key_event("a", false, CTRL).commands, None);
    }

    #[test]
    fn printable_keys_type_their_text_and_modifiers_count_on_their_own_press() {
        let e = key_event("a", true, 0);
        assert_eq!(e.r#type, DispatchKeyEventType::KeyDown);
        assert_eq!(e.text.as_deref(), Some("a"));
        assert_eq!(e.commands, None);
        let enter = key_event("Enter", true, SHIFT);
        assert_eq!(enter.text.as_deref(), Some("\r"));
        assert_eq!(enter.modifiers, Some(SHIFT));
        let tab = key_event("Tab", true, 0);
        assert_eq!(tab.r#type, DispatchKeyEventType::RawKeyDown);
        assert_eq!(tab.windows_virtual_key_code, Some(9));
        let ctrl = key_event("Control", true, 0);
        assert_eq!(ctrl.modifiers, Some(CTRL));
        assert_eq!(ctrl.location, Some(1));
        assert_eq!(key_event("Control", false, CTRL).modifiers, Some(0));
        assert_eq!(key_event("é", true, 0).text.as_deref(), Some("é"));
    }
}
