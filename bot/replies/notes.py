"""Advice to the moderator (in Nynorsk) that goes with a suggested reply, citing the guidelines."""

from __future__ import annotations

ABUSIVE = (
    "Ikkje svar: skjul kommentaren (eller rapporter han), og ikkje gå i dialog. Retningslinjene, «Ytringar»: "
    "«Alle ytringar på dei offisielle kontoane skal vere politisk og religiøst nøytrale, og må elles ikkje "
    "verke diskriminerande på nokon annan måte.» Trakassering, hat, skjellsord, truslar og diskriminering "
    "vert skjulte eller rapporterte, aldri svara på."
)
URGENT = (
    "HASTAR: eskaler straks, utanom den vanlege fristen. Er nokon i fare, sjå til at naudetatane er "
    "varsla (110 brann, 112 politi, 113 medisinsk naudhjelp)."
)
CASE_INQUIRY = (
    "Sakshandsaming skal ikkje skje i sosiale medium (retningslinjene, «Sakshandsaming»): send "
    "førespurnaden vidare til postmottaket så han vert registrert og arkivert; svaret fortel avsendaren "
    "korleis han sender ein formell førespurnad."
)
CHILD_CONCERN = (
    "Uro for eit barn: sjå til at barnevernet får dette i dag; svaret viser avsendaren dit."
)
ADULT_CONCERN = (
    "Uro for ein sårbar vaksen: sjå til at helse- og omsorgstenestene får dette i dag; svaret viser "
    "avsendaren dit."
)
NO_FACT_QUESTION = (
    "Ingen fakta i faktaarket svarer på spørsmålet: finn svaret, svar her, og vurder å leggje det til "
    "i [[facts]]."
)
NO_FACT_CORRECTION = (
    "Ingen fakta i faktaarket passar til påstanden: sjekk kva som er rett og rett det opp med kjelde "
    "(retningslinjene, «Dialog og nærver»: «Rett opp faktafeil»), og vurder å leggje det til i [[facts]]."
)
FROM_POST = "Svaret siterer innlegget: sjekk at det verkeleg svarer på kommentaren."
POLITICAL_UNKNOWN = (
    "Politisk sak som ikkje står i [[political_matters]]: sjekk om saka er under handsaming eller avgjord, "
    "vis til kommunedirektøren si innstilling eller vedtaket, og legg saka inn i oppsettet. Gje ingen eigne "
    "vurderingar (retningslinjene, «Administrasjon og politikk»)."
)


def political(title: str, decided: bool) -> str:
    """Note for a comment on a configured political matter."""
    points_to = "vedtaket" if decided else "kommunedirektøren si innstilling"
    status = "avgjord" if decided else "under handsaming"
    return (
        f"Politisk sak «{title}» ({status}): svaret viser berre til {points_to}; legg ikkje til eigne "
        "vurderingar (retningslinjene, «Administrasjon og politikk»)."
    )


def long_thread(earlier_comments: int) -> str:
    """Note for a negative comment from someone who has written many times in the thread."""
    return (
        f"Denne personen har skrive {earlier_comments} kommentarar før i tråden: vurder å flytte dialogen "
        "til direkte kontakt (retningslinjene, «Dialog og nærver»: «vurder kor lenge du vil at dialogen "
        "skal oppretthaldast»); svaret tilbyr det."
    )


def personal_data(kinds: list[str]) -> str:
    """Note for a comment that reveals personal data."""
    found = f" ({', '.join(kinds)})" if kinds else ""
    return f"Kommentaren inneheld personopplysningar{found}: vurder å skjule han. Svaret gjentek dei ikkje."


def replaced(problems: list[str]) -> str:
    """Note when the guard replaced a reply with the safe one."""
    return f"Svarforslaget vart bytt ut med eit trygt svar fordi {'; '.join(problems)}."
