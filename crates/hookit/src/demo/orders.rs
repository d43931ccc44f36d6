//! Demo orders as klikit's order platform would push them: a full record with the
//! source platform's id, brand, branch, a cart of lines with modifier groups and
//! decimal-string prices, payment (nested or flat), and RFC 3339 times.
//!
//! An [`OrderModel`] is the driver's own idea of an order; every push sends its whole
//! record, as the ingest API expects.

use super::topology::{BRANDS, BUSINESS_ID, MenuItem};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// Where an order came from: the platform name and the prefix of its own order id.
const SOURCES: [(&str, Option<&str>); 5] = [
    ("grabfood", Some("GF")),
    ("gofood", Some("GO")),
    ("foodpanda", Some("FP")),
    ("kiosk", None),
    ("web", None),
];
const CUSTOMERS: [&str; 8] = [
    "Made", "Ketut", "Putu", "Wayan", "Sari", "Dewi", "Budi", "Ayu",
];
const COMMENTS: [&str; 3] = ["no peanuts", "sambal on the side", "less ice"];

/// Order type codes (reference file).
pub const PICKUP: i64 = 1;
pub const DELIVERY: i64 = 2;
pub const DINE_IN: i64 = 3;

/// One cart line: a dish, how many, the chosen modifiers, an optional comment.
#[derive(Clone)]
struct Line {
    item: &'static MenuItem,
    quantity: i64,
    /// (group index, modifier index) per chosen modifier.
    choices: Vec<(usize, usize)>,
    comment: Option<&'static str>,
}

impl Line {
    fn random(brand: usize, rng: &mut StdRng) -> Line {
        let menu = BRANDS[brand].menu;
        let item = &menu[rng.gen_range(0..menu.len())];
        let mut choices = Vec::new();
        for (group, (_, _, modifiers)) in item.groups.iter().enumerate() {
            if rng.gen_bool(0.7) {
                choices.push((group, rng.gen_range(0..modifiers.len())));
            }
        }
        let comment = rng
            .gen_bool(0.15)
            .then(|| COMMENTS[rng.gen_range(0..COMMENTS.len())]);
        Line {
            item,
            quantity: rng.gen_range(1..=3),
            choices,
            comment,
        }
    }

    /// The price of one unit with its modifiers, in whole rupiah.
    fn unit_price(&self) -> i64 {
        self.item.price
            + self
                .choices
                .iter()
                .map(|&(group, modifier)| self.item.groups[group].2[modifier].2)
                .sum::<i64>()
    }

    fn to_json(&self, brand: usize) -> Value {
        let groups: Vec<Value> = self
            .choices
            .iter()
            .map(|&(group, modifier)| {
                let (group_id, group_name, modifiers) = self.item.groups[group];
                let (id, name, price) = modifiers[modifier];
                json!({
                    "id": group_id,
                    "name": group_name,
                    "modifiers": [{
                        "id": id, "name": name, "quantity": 1, "price": rupiah(price),
                        "modifier_groups": [],
                    }],
                })
            })
            .collect();
        json!({
            "id": self.item.id,
            "name": self.item.name,
            "quantity": self.quantity,
            "unit_price": rupiah(self.unit_price()),
            "price": rupiah(self.unit_price() * self.quantity),
            "comment": self.comment,
            "brand": { "id": BRANDS[brand].id, "title": BRANDS[brand].title },
            "modifier_groups": groups,
        })
    }
}

/// A decimal string, as klikit sends money: never a float.
fn rupiah(amount: i64) -> String {
    format!("{amount}.00")
}

/// The driver's model of one order.
#[derive(Clone)]
pub struct OrderModel {
    pub id: i64,
    /// Index into [`BRANDS`].
    pub brand: usize,
    pub branch_id: i64,
    pub order_type: i64,
    pub status: i64,
    pub reason_code: Option<&'static str>,
    source: &'static str,
    external_id: Option<String>,
    customer: &'static str,
    cart: Vec<Line>,
    /// (status, method, channel).
    payment: (i64, i64, i64),
    nested_payment: bool,
    placed_at: Option<String>,
    /// The record as first placed, for a deliberately late push.
    pub first_record: Option<Value>,
}

impl OrderModel {
    /// A new order with a random cart, source and payment.
    pub fn random(id: i64, brand: usize, branch_id: i64, rng: &mut StdRng) -> OrderModel {
        let (source, prefix) = SOURCES[rng.gen_range(0..SOURCES.len())];
        let external_id = prefix.map(|prefix| {
            let code: u32 = rng.gen_range(0x10_0000..0xFF_FFFF);
            format!("{prefix}-{code:06X}")
        });
        let order_type = match rng.gen_range(0..10) {
            0..=3 => PICKUP,
            4..=8 => DELIVERY,
            _ => DINE_IN,
        };
        // Cash at the counter is pending until paid; QRIS is paid up front.
        let payment = if source == "kiosk" && rng.gen_bool(0.5) {
            (3, 2, 31)
        } else {
            (1, 17, 37)
        };
        let lines = rng.gen_range(1..=3);
        OrderModel {
            id,
            brand,
            branch_id,
            order_type,
            status: 1,
            reason_code: None,
            source,
            external_id,
            customer: CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())],
            cart: (0..lines).map(|_| Line::random(brand, rng)).collect(),
            payment,
            nested_payment: rng.gen_bool(0.5),
            placed_at: None,
            first_record: None,
        }
    }

    /// An edit before the order is final: a line added, a quantity changed, or a line
    /// dropped (an item ran out).
    pub fn edit_cart(&mut self, rng: &mut StdRng) {
        match rng.gen_range(0..3) {
            0 => self.cart.push(Line::random(self.brand, rng)),
            1 => {
                let index = rng.gen_range(0..self.cart.len());
                self.cart[index].quantity += 1;
            }
            _ if self.cart.len() > 1 => {
                self.cart.pop();
            }
            _ => self.cart.push(Line::random(self.brand, rng)),
        }
    }

    /// The full record as of `now` (RFC 3339), which becomes its `updated_at`.
    pub fn record(&mut self, now: &str) -> Value {
        let placed_at = self.placed_at.get_or_insert_with(|| now.to_owned()).clone();
        let subtotal: i64 = self.cart.iter().map(|l| l.unit_price() * l.quantity).sum();
        let delivery_fee = if self.order_type == DELIVERY {
            10_000
        } else {
            0
        };
        let mut record = json!({
            "id": self.id,
            "external_id": self.external_id,
            "business_id": BUSINESS_ID,
            "brands": [{ "id": BRANDS[self.brand].id, "title": BRANDS[self.brand].title }],
            "branch_id": self.branch_id,
            "status": self.status,
            "order_type": self.order_type,
            "source": self.source,
            "customer": { "name": self.customer },
            "currency": "IDR",
            "cart": self.cart.iter().map(|l| l.to_json(self.brand)).collect::<Vec<_>>(),
            "subtotal": rupiah(subtotal),
            "delivery_fee": rupiah(delivery_fee),
            "total": rupiah(subtotal + delivery_fee),
            "placed_at": placed_at,
            "updated_at": now,
        });
        let (status, method, channel) = self.payment;
        if self.nested_payment {
            record["payment"] = json!({ "status": status, "method": method, "channel": channel });
        } else {
            record["payment_status"] = json!(status);
            record["payment_method"] = json!(method);
            record["payment_channel"] = json!(channel);
        }
        if let Some(reason) = self.reason_code {
            record["reason_code"] = json!(reason);
        }
        if self.first_record.is_none() {
            self.first_record = Some(record.clone());
        }
        record
    }
}
