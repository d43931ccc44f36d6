//! The demo's little world: one business with two brands cooking in three shared
//! branches (a cloud kitchen), plus a pop-up branch, and the receiver path each
//! (brand, branch, event type) is mapped to.
//!
//! Bali Bites is mapped brand-wide (one head-office URL per event type) except in
//! branch 1064, whose POS takes its own webhooks; Kopi Kita is mapped per branch, with
//! a brand-wide fallback. The pop-up branch's `created` URL is the misconfigured one
//! whose delivery goes dead.

use klikit_webhook::EventType;

/// The business every demo order belongs to.
pub const BUSINESS_ID: i64 = 737;

/// A brand with its menu.
pub struct Brand {
    pub id: i64,
    pub title: &'static str,
    /// The receiver path segment of its head office.
    pub slug: &'static str,
    pub menu: &'static [MenuItem],
}

/// A modifier on the menu: id, name, extra price in whole rupiah.
pub type MenuModifier = (i64, &'static str, i64);
/// A modifier group on the menu: id, name, its modifiers.
pub type MenuGroup = (i64, &'static str, &'static [MenuModifier]);

/// One dish: id, name, unit price in whole rupiah, and its modifier groups.
pub struct MenuItem {
    pub id: i64,
    pub name: &'static str,
    pub price: i64,
    pub groups: &'static [MenuGroup],
}

const SPICE: MenuGroup = (
    901,
    "Spice level",
    &[
        (9011, "Mild", 0),
        (9012, "Pedas", 0),
        (9013, "Extra pedas", 2000),
    ],
);
const EXTRAS: MenuGroup = (
    902,
    "Extras",
    &[(9021, "Telur mata sapi", 5000), (9022, "Extra nasi", 4000)],
);
const MILK: MenuGroup = (
    903,
    "Milk",
    &[(9031, "Fresh milk", 0), (9032, "Oat milk", 7000)],
);
const SUGAR: MenuGroup = (
    904,
    "Sugar",
    &[(9041, "Less sugar", 0), (9042, "Normal", 0)],
);

pub const BRANDS: [Brand; 2] = [
    Brand {
        id: 663,
        title: "Bali Bites",
        slug: "bali-bites",
        menu: &[
            MenuItem {
                id: 1101,
                name: "Nasi Campur Bali",
                price: 45000,
                groups: &[SPICE, EXTRAS],
            },
            MenuItem {
                id: 1102,
                name: "Sate Lilit",
                price: 38000,
                groups: &[SPICE],
            },
            MenuItem {
                id: 1103,
                name: "Babi Guling",
                price: 52500,
                groups: &[EXTRAS],
            },
            MenuItem {
                id: 1104,
                name: "Es Kelapa Muda",
                price: 18500,
                groups: &[],
            },
        ],
    },
    Brand {
        id: 871,
        title: "Kopi Kita",
        slug: "kopi-kita",
        menu: &[
            MenuItem {
                id: 2201,
                name: "Es Kopi Susu",
                price: 24000,
                groups: &[MILK, SUGAR],
            },
            MenuItem {
                id: 2202,
                name: "Kopi Tubruk",
                price: 18000,
                groups: &[SUGAR],
            },
            MenuItem {
                id: 2203,
                name: "Roti Bakar Coklat",
                price: 27500,
                groups: &[],
            },
        ],
    },
];

/// The branches both brands cook in.
pub const BRANCHES: [i64; 3] = [1062, 1063, 1064];
/// The branch whose POS goes offline for a while.
pub const DOWN_BRANCH: i64 = 1064;
/// Kopi Kita's pop-up branch, whose `created` URL is misconfigured.
pub const POPUP_BRANCH: i64 = 1099;
/// The brand of the pop-up.
pub const POPUP_BRAND: usize = 1;

/// Receiver path prefix of the branch that goes offline.
pub fn down_prefix() -> String {
    format!("/pos/{DOWN_BRANCH}/")
}

/// Receiver path of the misconfigured pop-up endpoint.
pub fn popup_path() -> String {
    format!("/pos/{POPUP_BRANCH}-popup/created")
}

/// The short name used in receiver paths and the summary.
pub fn short_name(event: EventType) -> &'static str {
    match event {
        EventType::OrderCreated => "created",
        EventType::OrderStatusUpdated => "status",
        EventType::OrderCartUpdated => "cart",
    }
}

/// One URL mapping to create: `branch_id: None` maps the whole brand.
pub struct PlannedMapping {
    pub brand_id: i64,
    pub branch_id: Option<i64>,
    pub event: EventType,
    pub path: String,
}

/// Every mapping of the demo partner.
pub fn mappings() -> Vec<PlannedMapping> {
    let mut planned = Vec::new();
    let mut add = |brand_id, branch_id, event, path: String| {
        planned.push(PlannedMapping {
            brand_id,
            branch_id,
            event,
            path,
        });
    };
    for event in EventType::ALL {
        let short = short_name(event);
        for brand in &BRANDS {
            add(brand.id, None, event, format!("/hq/{}/{short}", brand.slug));
        }
        let [bali, kopi] = &BRANDS;
        add(
            bali.id,
            Some(DOWN_BRANCH),
            event,
            format!("{}{short}", down_prefix()),
        );
        for branch in BRANCHES {
            add(
                kopi.id,
                Some(branch),
                event,
                format!("/pos/{branch}/{short}"),
            );
        }
    }
    add(
        BRANDS[POPUP_BRAND].id,
        Some(POPUP_BRANCH),
        EventType::OrderCreated,
        popup_path(),
    );
    planned
}
