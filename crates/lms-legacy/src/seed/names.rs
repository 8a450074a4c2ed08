//! Name pools for realistic legacy rows: Kazakh and Russian names in
//! Cyrillic, Kazakh letters included, and their Latin transliterations for
//! logins and emails.

pub const LAST_NAMES: &[&str] = &[
    "Ахметов",
    "Жумабаев",
    "Сейткали",
    "Нурланов",
    "Қасымов",
    "Әбенов",
    "Ғабитов",
    "Өтегенов",
    "Ұлықбеков",
    "Үсенов",
    "Иванов",
    "Петров",
    "Смирнов",
    "Ким",
    "Цой",
    "Байжанов",
    "Тлеубаев",
    "Мұхаметжанов",
    "Оспанов",
    "Серікбаев",
    "Кузнецов",
    "Попов",
    "Лебедев",
    "Есенов",
    "Жақсылықов",
    "Бекмұратов",
    "Сағынтаев",
    "Тоқаев",
    "Назаров",
    "Омаров",
    "Шәріпов",
    "Ілиясов",
];

pub const FEMALE_LAST_SUFFIX: &str = "а";

pub const MALE_FIRST_NAMES: &[&str] = &[
    "Нұрлан",
    "Ерлан",
    "Айдос",
    "Данияр",
    "Бауыржан",
    "Әлихан",
    "Ғалым",
    "Қайрат",
    "Тимур",
    "Арман",
    "Алексей",
    "Дмитрий",
    "Сергей",
    "Ілияс",
    "Өмір",
    "Ұлан",
    "Мирас",
    "Санжар",
    "Олжас",
    "Руслан",
];

pub const FEMALE_FIRST_NAMES: &[&str] = &[
    "Әлия",
    "Айгерим",
    "Дана",
    "Жанар",
    "Гүлнар",
    "Қарлығаш",
    "Мадина",
    "Аружан",
    "Ұлжан",
    "Өркен",
    "Анна",
    "Екатерина",
    "Ольга",
    "Динара",
    "Сәуле",
    "Томирис",
    "Аяжан",
    "Іңкәр",
    "Камила",
    "Асель",
];

pub const MIDDLE_NAMES: &[&str] = &[
    "Серікұлы",
    "Нұрланұлы",
    "Ерланқызы",
    "Бауыржанқызы",
    "Александрович",
    "Сергеевна",
    "Қайратұлы",
    "Маратовна",
    "Әбілқызы",
    "Тимурович",
];

pub const ORG_CITIES: &[&str] = &[
    "Алматы",
    "Астана",
    "Шымкент",
    "Қарағанды",
    "Ақтөбе",
    "Павлодар",
    "Өскемен",
    "Семей",
    "Атырау",
    "Қостанай",
    "Тараз",
    "Орал",
];

pub const COLLEGE_KINDS: &[&str] = &[
    "политехнический колледж",
    "колледж связи",
    "медицинский колледж",
    "гуманитарлық колледжі",
    "колледж экономики и бизнеса",
    "аграрлық колледжі",
    "высший колледж искусств",
];

pub const DEPARTMENT_KINDS: &[&str] = &[
    "отделение информационных систем",
    "отделение сестринского дела",
    "экономика бөлімі",
    "отделение электроснабжения",
    "отделение дизайна",
    "бағдарламалау бөлімі",
];

/// Specialty codes used in group names (`ИС-21-1`, `PO-22`).
pub const SPECIALTIES: &[&str] = &["ИС", "ПО", "Бағд", "ЭС", "МД", "Эк", "ВТ", "PO", "IS", "Дз"];

pub const SUBJECTS: &[(&str, &str)] = &[
    ("Математика", "MAT"),
    ("Қазақ тілі", "KAZ"),
    ("Русский язык", "RUS"),
    ("English", "ENG"),
    ("Физика", "PHY"),
    ("Информатика", "INF"),
    ("История Казахстана", "HIS"),
    ("Физическая культура", "PE"),
    ("Программирование", "PRG"),
    ("Базы данных", "DB"),
    ("Сети и телекоммуникации", "NET"),
    ("Экономика", "ECO"),
    ("Бухгалтерский учёт", "ACC"),
    ("Анатомия", "ANA"),
    ("Фармакология", "PHA"),
    ("Электротехника", "ELE"),
    ("Инженерная графика", "ENG-G"),
    ("Философия", "PHI"),
    ("Өзін-өзі тану", "OOT"),
    ("Алгоритмы", "ALG"),
    ("Web-разработка", "WEB"),
    ("Менеджмент", "MGT"),
    ("Химия", "CHE"),
    ("Биология", "BIO"),
    ("Основы права", "LAW"),
    ("Дизайн", "DSN"),
    ("Операционные системы", "OS"),
    ("Кәсіби қазақ тілі", "PKZ"),
    ("Professional English", "PEN"),
    ("Охрана труда", "SAF"),
];

/// Subjects graded pass/fail (`зачет` / `незачет`).
pub fn is_pass_fail_subject(name: &str) -> bool {
    matches!(
        name,
        "Физическая культура" | "Өзін-өзі тану" | "Охрана труда"
    )
}

pub const POSITIONS: &[&str] = &[
    "Преподаватель",
    "преподаватель ",
    "Старший преподаватель",
    "Teacher",
    "Мастер п/о",
    "Заведующий отделением",
];

pub const EMAIL_DOMAINS: &[&str] = &[
    "mail.kz",
    "gmail.com",
    "mail.ru",
    "edu.kz",
    "inbox.kz",
    "yandex.kz",
];

/// A Latin transliteration for logins and emails.
pub fn transliterate(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let latin = match c {
            'а' | 'ә' => "a",
            'б' => "b",
            'в' => "v",
            'г' | 'ғ' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' | 'й' | 'і' => "i",
            'к' | 'қ' => "k",
            'л' => "l",
            'м' => "m",
            'н' | 'ң' => "n",
            'о' | 'ө' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' | 'ұ' | 'ү' => "u",
            'ф' => "f",
            'х' | 'һ' => "h",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "sch",
            'ы' => "y",
            'ю' => "yu",
            'я' => "ya",
            'ь' | 'ъ' => "",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => "",
        };
        out.push_str(latin);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transliteration_is_ascii() {
        assert_eq!(transliterate("Әлия"), "aliya");
        assert_eq!(transliterate("Жақсылықов"), "zhaksylykov");
        for name in LAST_NAMES
            .iter()
            .chain(MALE_FIRST_NAMES)
            .chain(FEMALE_FIRST_NAMES)
        {
            assert!(transliterate(name).is_ascii());
            assert!(!transliterate(name).is_empty());
        }
    }
}
