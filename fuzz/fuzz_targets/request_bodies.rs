//! Request bodies: the shape check, then every request type's decoding and field
//! validation, never panic; and the shape check agrees with serde_json about what it lets
//! through (an object, at most MAX_NESTING deep, no NUL in any member, even one a duplicate
//! key replaces) and what it refuses.
#![no_main]

use std::fmt;

use hilo_proto::{MAX_NESTING, check_body, decode_every_request};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// What the oracle needs to know of a parsed body, gathered from every member serde reads,
/// including one a later duplicate key replaces (`serde_json::Value` keeps only the last, so
/// a NUL in the first `"text"` of `{"text":"\u0000","text":"a"}` would be invisible to it).
#[derive(Default)]
struct Shape {
    object: bool,
    depth: usize,
    nul: bool,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::default())
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::default())
    }

    fn visit_str<E>(self, text: &str) -> Result<Shape, E> {
        Ok(Shape {
            nul: text.contains('\0'),
            ..Shape::default()
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Shape, A::Error> {
        let mut shape = Shape {
            depth: 1,
            ..Shape::default()
        };
        while let Some(item) = items.next_element::<Shape>()? {
            shape.depth = shape.depth.max(1 + item.depth);
            shape.nul |= item.nul;
        }
        Ok(shape)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Shape, A::Error> {
        let mut shape = Shape {
            object: true,
            depth: 1,
            nul: false,
        };
        while let Some((key, value)) = members.next_entry::<String, Shape>()? {
            shape.depth = shape.depth.max(1 + value.depth);
            shape.nul |= key.contains('\0') || value.nul;
        }
        Ok(shape)
    }
}

fuzz_target!(|data: &[u8]| {
    decode_every_request(data);
    let Ok(shape) = serde_json::from_slice::<Shape>(data) else {
        return;
    };
    let good = shape.object && shape.depth <= MAX_NESTING && !shape.nul;
    assert_eq!(
        check_body(data).is_ok(),
        good,
        "check_body disagrees with the parsed value: {:?}",
        check_body(data)
    );
});
