"""Language detection on realistic messages: Vietnamese with and without diacritics and in
teen-code, and English. At least 95% right from 20 characters; shorter ones fall back."""

import pytest

from bot.domain.language import MIN_RELIABLE_CHARS, detect_language

VIETNAMESE = [
    # with diacritics
    "Mình muốn hỏi về thủ tục kết nạp Đoàn ạ",
    "Đường vào ấp 3 bị ngập nước mấy ngày nay rồi mà chưa ai xử lý",
    "Quán ăn trước cổng trường bán đồ ăn không rõ nguồn gốc",
    "Em muốn đăng ký tham gia chiến dịch Mùa hè xanh năm nay",
    "Cho em hỏi học bổng của Tỉnh đoàn xét theo tiêu chí nào ạ?",
    "Bạn Lan ở ấp 4 dạy học miễn phí cho các em nhỏ mỗi tối",
    "Đèn đường ở khu phố 3 bị hỏng hai tuần nay, buổi tối rất tối",
    "Tôi đề xuất làm bản đồ số các điểm sinh hoạt thanh thiếu nhi",
    "Thủ quỹ chi đoàn giữ tiền đoàn phí mà không nộp lên trên",
    "Khu vui chơi cho thiếu nhi ở xã xuống cấp, nhiều chỗ nguy hiểm",
    "Làm sao để chuyển sinh hoạt Đoàn khi đi làm ở tỉnh khác?",
    "Nhà văn hóa ấp đóng cửa suốt, thanh niên không có chỗ sinh hoạt",
    "Cảm ơn các anh chị đã hỗ trợ gia đình em trong đợt lũ vừa rồi",
    "Em thấy có người đổ rác xuống kênh vào ban đêm",
    "Có lớp học nghề miễn phí nào cho thanh niên nông thôn không ạ?",
    "Đề nghị lắp thêm camera ở đoạn đường gần trường học",
    "Chú bảo vệ trường em nhặt được ví và trả lại cho người mất",
    "Xin hỏi thủ tục vay vốn khởi nghiệp cho thanh niên như thế nào",
    "Cán bộ đoàn xã thu tiền hoạt động nhưng không công khai chi tiêu",
    "Nhóm tình nguyện của chúng em nấu cơm miễn phí cho bệnh nhân",
    "Mong Tỉnh đoàn tổ chức thêm ngày hội việc làm cho sinh viên",
    "Trạm y tế xã thường xuyên đóng cửa vào buổi chiều",
    # without diacritics
    "cho minh hoi thu tuc chuyen sinh hoat doan o dau a",
    "duong o ap 3 bi ngap nuoc may ngay nay roi ma ko ai xu ly",
    "em muon dang ky tham gia mua he xanh nam nay",
    "quan an truoc cong truong ban do an khong ro nguon goc",
    "cho em hoi hoc bong cua tinh doan xet theo tieu chi nao a",
    "ban Lan o ap 4 day hoc mien phi cho cac em nho moi toi",
    "den duong o khu pho 3 bi hu hai tuan nay roi",
    "toi de xuat lam ban do so cac diem sinh hoat thieu nhi",
    "thu quy chi doan giu tien doan phi khong nop len tren",
    "khu vui choi thieu nhi o xa xuong cap nhieu cho nguy hiem",
    "lam sao de chuyen sinh hoat doan khi di lam o tinh khac",
    "nha van hoa ap dong cua suot thanh nien khong co cho sinh hoat",
    "cam on cac anh chi da ho tro gia dinh em trong dot lu vua roi",
    "co lop hoc nghe mien phi nao cho thanh nien nong thon khong",
    "de nghi lap them camera o doan duong gan truong hoc",
    "xin hoi thu tuc vay von khoi nghiep cho thanh nien nhu the nao",
    "can bo doan xa thu tien nhung khong cong khai chi tieu",
    "nhom tinh nguyen tui nau com mien phi cho benh nhan ngheo",
    "mong tinh doan to chuc them ngay hoi viec lam cho sinh vien",
    "tram y te xa thuong xuyen dong cua vao buoi chieu",
    "em thay co nguoi do rac xuong kenh vao ban dem",
    "o truong em co ban hay bi bat nat ma thay co khong biet",
    # teen-code
    "ko bik phai lam sao de dang ky tinh nguyen mua he xanh",
    "hnay e thay co nguoi do rac ra kenh, mn xu ly giup e vs",
    "ad oi cho e hoi ti, e 17t dc vao doan chua a",
    "e mun hoi ve hoc bong, ai bik chi e vs a",
    "dg nha e ngap qa troi luon, ko ai lm j het",
    "tui dang ky roi ma chua thay ai lien lac lai ha ad",
    "hok bik nop ho so doan vien o dau, chi giup e vs",
    "mik co y tuong lam app ket noi tinh nguyen vien nek",
    "sao qua tr chua co ai tra loi cau hoi cua e vay",
    "ad cho e xin link dang ky mua he xanh vs a",
    "e hoc lop 11, mun vao doan thi can lm gi a",
    "cj oi o xa e den duong hu lau lam r ma ko ai sua",
    "ko co ai don rac o cho ca, hoi thoi kinh khung",
    "bn nao bik lop hoc nghe free o tay ninh ko",
    "e ko dong y voi cach thu tien doan phi o truong e",
    "thanks ad nha, nho co doan ma e co viec lam r",
    "mn oi co ai di tinh nguyen cuoi tuan nay ko",
    "e bi mat giay chung nhan doan vien r, lm lai sao a",
]

ENGLISH = [
    "I would like to ask about volunteering this summer",
    "The street lights near my school have been broken for weeks",
    "Can I join the union if I am 15 years old?",
    "There is rubbish dumped in the canal behind the market",
    "How do I transfer my union membership to another province?",
    "I have an idea for an app that connects young volunteers",
    "The playground in our ward is unsafe for small children",
    "Are there free vocational courses for young workers?",
    "My neighbour helped flood victims every night last month",
    "Please fix the flooded road in front of the primary school",
    "Who should I contact about scholarships for students?",
    "The youth centre has been closed for months without notice",
    "I want to report that union fees are not being accounted for",
    "Thank you for helping my family after the storm",
    "Is there a job fair for students this December?",
    "Our group cooks free meals for patients at the hospital",
    "Could you tell me how to apply for a start-up loan?",
    "The food stall outside the school sells expired snacks",
    "Students in my class are being bullied and teachers do nothing",
    "When will the summer volunteer campaign start this year?",
    "hey admin, how do i sign up for the green summer thing",
    "pls help, the road near my house is flooded again",
]


def _accuracy(texts: list[str], expected: str, fallback: str) -> float:
    long_enough = [t for t in texts if len(t.strip()) >= MIN_RELIABLE_CHARS]
    right = sum(detect_language(t, fallback) == expected for t in long_enough)
    return right / len(long_enough)


def test_the_table_is_big_enough() -> None:
    assert len(VIETNAMESE) >= 60
    assert len(ENGLISH) >= 20


@pytest.mark.parametrize("fallback", ["vi", "en"])
def test_vietnamese_is_recognised(fallback: str) -> None:
    assert _accuracy(VIETNAMESE, "vi", fallback) >= 0.95


@pytest.mark.parametrize("fallback", ["vi", "en"])
def test_english_is_recognised(fallback: str) -> None:
    assert _accuracy(ENGLISH, "en", fallback) >= 0.95


@pytest.mark.parametrize("short", ["ok", "cam on ad", "thanks!", "e hoi ti", "Xin chào"])
@pytest.mark.parametrize("fallback", ["vi", "en"])
def test_short_texts_keep_the_persons_language(short: str, fallback: str) -> None:
    assert detect_language(short, fallback) == fallback


def test_the_same_input_always_gives_the_same_answer() -> None:
    answers = {t: detect_language(t, "vi") for t in VIETNAMESE + ENGLISH}
    for _ in range(3):
        assert {t: detect_language(t, "vi") for t in answers} == answers
