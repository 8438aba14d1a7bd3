//! What the mail targets share.

/// libFuzzer aborts on any panic, even one caught. A panic inside mail-parser (its debug
/// assertions, which some broken MIME trips) is caught by hilo (`hilo_mail::parse` refuses
/// the mail; the sender checks find nothing to check), so it is let through; any other
/// panic still aborts the run.
pub fn tolerate_mail_parser_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_parser = info
                .location()
                .is_some_and(|at| at.file().contains("/mail-parser-"));
            if !in_parser {
                abort(info);
            }
        }));
    });
}
