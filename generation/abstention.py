"""What an abstaining answer says, in the question's language (the documents do not contain the answer).

The sentence is fixed text, not model output, so it is written here once per language; a language without an
entry (or a question too short to tell) gets English. The LLM prompt keeps the English sentence
(``prompts.ABSTAIN_TEXT``) as its instruction.
"""

from __future__ import annotations

from citewise.language import detect
from generation.prompts import ABSTAIN_TEXT

# language -> (no answer, closest sources: {listing})
MESSAGES: dict[str, tuple[str, str]] = {
    "en": (ABSTAIN_TEXT, "Closest sources: {listing}."),
    "ar": ("لا تحتوي المستندات على إجابة عن هذا السؤال.", "أقرب المصادر: {listing}."),
    "de": ("Die Dokumente enthalten keine Antwort auf diese Frage.", "Nächstliegende Quellen: {listing}."),
    "el": ("Τα έγγραφα δεν περιέχουν απάντηση σε αυτή την ερώτηση.", "Πλησιέστερες πηγές: {listing}."),
    "es": ("Los documentos no contienen una respuesta a esta pregunta.", "Fuentes más cercanas: {listing}."),
    "fr": ("Les documents ne contiennent pas de réponse à cette question.", "Sources les plus proches : {listing}."),
    "hi": ("दस्तावेज़ों में इस प्रश्न का उत्तर नहीं है।", "निकटतम स्रोत: {listing}।"),
    "it": ("I documenti non contengono una risposta a questa domanda.", "Fonti più vicine: {listing}."),
    "ja": ("文書にはこの質問への答えが含まれていません。", "最も近い情報源：{listing}。"),
    "ko": ("문서에 이 질문에 대한 답이 없습니다.", "가장 가까운 출처: {listing}."),
    "nl": ("De documenten bevatten geen antwoord op deze vraag.", "Dichtstbijzijnde bronnen: {listing}."),
    "pt": ("Os documentos não contêm uma resposta para esta pergunta.", "Fontes mais próximas: {listing}."),
    "ro": ("Documentele nu conțin un răspuns la această întrebare.", "Cele mai apropiate surse: {listing}."),
    "ru": ("В документах нет ответа на этот вопрос.", "Ближайшие источники: {listing}."),
    "th": ("เอกสารไม่มีคำตอบสำหรับคำถามนี้", "แหล่งข้อมูลที่ใกล้เคียงที่สุด: {listing}"),
    "tr": ("Belgeler bu sorunun yanıtını içermiyor.", "En yakın kaynaklar: {listing}."),
    "vi": ("Các tài liệu không chứa câu trả lời cho câu hỏi này.", "Các nguồn gần nhất: {listing}."),
    "zh": ("文档中没有这个问题的答案。", "最接近的来源：{listing}。"),
}


def abstain_text(question: str, listing: str) -> str:
    """The abstention sentence in ``question``'s language, then the closest sources when there are any."""
    lang = detect(question).lang
    no_answer, closest = MESSAGES.get(lang, MESSAGES["en"])
    return no_answer + (" " + closest.format(listing=listing) if listing else "")
