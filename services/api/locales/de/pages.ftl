# Die Seiten, die ein Autobesitzer sieht: die Verknüpfungsseite und die Anmeldeseite eines
# Flexibilitätsprogramms. { $app } ist der Name der App, wie ihr Anbieter ihn festgelegt hat.

## Allen Seiten gemeinsam

the-app = die App
back-to-app = Zurück zu { $app }
back-unknown = Sie können diese Seite schließen und zur App zurückkehren, aus der Sie kamen.
language-label = Sprache
logo-alt = Logo von { $app }
run-by = Diese Seite betreibt Coupler im Auftrag von { $app }.
error-title = Etwas ist schiefgelaufen
error-send-on = Coupler kann Sie nicht weiterleiten. Kehren Sie zur App zurück und beginnen Sie erneut.

## Die Verknüpfungsseite

link-title = Auto verbinden
link-heading = { $app } möchte sich mit Ihrem Auto verbinden
link-intro = { $app } nutzt Coupler, um Ihr Auto über Ihr Konto beim Hersteller zu erreichen. Sie melden sich beim Hersteller an, nicht hier: { $app } sieht Ihr Passwort nie.
link-access-heading = Was { $app } tun darf
scope-read-data = Akkustand, Reichweite und Ladezustand Ihres Autos sehen, dazu Angaben wie Modell und Fahrgestellnummer.
scope-read-location = Sehen, wo Ihr Auto steht, zum Beispiel um zu wissen, wann es zu Hause ist.
scope-control-charging = Das Laden starten und stoppen und einstellen, wie schnell Ihr Auto lädt.
link-privacy-heading = Ihre Privatsphäre
link-privacy-shared = Coupler gibt diese Daten nur an { $app } weiter, an niemanden sonst. Ihr Passwort bleibt beim Hersteller Ihres Autos.
link-privacy-policy = Datenschutzerklärung von { $app } lesen
link-privacy-stop = Sie können die Verbindung jederzeit trennen, in { $app } oder in der App Ihres Autoherstellers.
link-next-heading = Wie es weitergeht
link-next-choose = Sie wählen unten die Marke Ihres Autos.
link-next-sign-in = Sie melden sich bei { $vendor } an und erlauben den Zugriff.
link-next-sign-in-any = Sie melden sich mit Ihrem Konto beim Hersteller Ihres Autos an und erlauben den Zugriff.
link-next-back = Sie kehren zu { $app } zurück, und Ihr Auto erscheint dort.
link-choose-heading = Marke Ihres Autos wählen
link-continue = Weiter zu { $vendor }
link-cancel = Abbrechen und zurück zu { $app }
link-vendor-unavailable = Diese Marke ist nicht verfügbar. Wählen Sie eine aus der Liste.
link-not-found-title = Link nicht gefunden
link-not-found = Dieser Link ist ungültig. Bitten Sie die App um einen neuen.
link-unavailable-title = Verknüpfen nicht möglich
link-unavailable = Coupler kann gerade nicht weitermachen. Bitte versuchen Sie es gleich noch einmal.
link-used-title = Dieser Link wurde schon benutzt
link-used = Mit diesem Link wurde bereits ein Konto verbunden. Kehren Sie zu { $app } zurück, um neu zu beginnen.
link-ended = Dieser Link ist abgelaufen. Kehren Sie zu { $app } zurück, um neu zu beginnen.
signin-unknown-title = Anmeldung nicht erkannt
signin-unknown = Diese Anmeldung gehört zu keiner laufenden Verknüpfung. Kehren Sie zur App zurück, um neu zu beginnen.
signin-used-title = Diese Anmeldung wurde schon benutzt
signin-used = Diese Anmeldeantwort wurde bereits benutzt. Kehren Sie zu { $app } zurück, um neu zu beginnen.

## Die Anmeldeseite eines Programms

enrol-runs = { $operator } betreibt dieses Programm und lädt Sie ein, Ihre Geräte anzumelden.
enrol-what-heading = Was das Programm mit Ihrem Laden macht
enrol-does-capacity = Während eines Ereignisses begrenzt das Programm, wie viel Strom Ihr Haushalt aus dem Netz bezieht. Ihr Auto lädt dann langsamer, bis das Ereignis endet.
enrol-does-shed = Während eines Ereignisses senkt das Programm Ihre Ladeleistung unter das übliche Maß und misst den Unterschied.
enrol-does-pause = Während eines Ereignisses pausiert das Laden. Es geht von selbst weiter, wenn das Ereignis endet.
enrol-events-per-year = { $count ->
    [one] Höchstens 1 Ereignis im Jahr.
   *[other] Höchstens { $count } Ereignisse im Jahr.
}
enrol-events-unlimited = Keine feste Grenze, wie viele Ereignisse es im Jahr gibt.
enrol-event-length = Jedes Ereignis dauert höchstens { $duration }.
enrol-no-notice = Ein Ereignis kann ohne Vorankündigung beginnen.
enrol-notice = Sie erfahren mindestens { $duration } vorher, dass ein Ereignis beginnt.
duration-days = { $count ->
    [one] 1 Tag
   *[other] { $count } Tage
}
duration-hours = { $count ->
    [one] 1 Stunde
   *[other] { $count } Stunden
}
duration-minutes = { $count ->
    [one] 1 Minute
   *[other] { $count } Minuten
}
enrol-get-heading = Was Sie bekommen
enrol-no-incentive = Das Programm nennt keine Vergütung.
enrol-shared-heading = Was geteilt wird
enrol-shared-intro = Solange ein Gerät angemeldet ist, erhält { $operator }:
enrol-rights-heading = Ihre Wahl
enrol-rights = Die Teilnahme ist freiwillig. Wenn Ihr Auto wie gewohnt laden soll, können Sie in { $app } bei einem Ereignis aussteigen, und Sie können das Programm jederzeit verlassen.
enrol-leave-heading = So steigen Sie aus
enrol-devices = Ihre Geräte
enrol-none-eligible = Keines Ihrer Geräte kann gerade an diesem Programm teilnehmen.
enrol-cannot-join = Geräte, die nicht teilnehmen können
enrol-consent = Ich melde die angekreuzten Geräte zu diesen Bedingungen bei { $program } an und bin einverstanden, dass { $operator } die oben genannten Daten erhält.
enrol-submit = Anmelden
enrol-decline = Nein, danke
kind-charger = Ladestation
kind-car = Auto
kind-ev-system = Auto und Ladestation zusammen
enrol-ev-system-label = { $car } an { $charger }
enrol-undecided = Es kann jetzt teilnehmen; es macht mit, sobald es geprüft wurde.
enrol-error-choose = Wählen Sie Anmelden oder Nein, danke.
enrol-error-tick = Kreuzen Sie mindestens ein Gerät an.
enrol-error-consent = Kreuzen Sie das Feld an, um den Bedingungen zuzustimmen, oder wählen Sie Nein, danke.
enrol-error-cannot = Ein angekreuztes Gerät kann (nicht mehr) teilnehmen. Prüfen Sie die Liste und versuchen Sie es erneut.
enrol-error-device = { $device } kann nicht mehr teilnehmen. Prüfen Sie die Liste und versuchen Sie es erneut.
enrol-error-meanwhile = Ein angekreuztes Gerät wurde inzwischen angemeldet. Prüfen Sie die Liste und versuchen Sie es erneut.
enrol-unavailable-title = Anmeldung nicht möglich
enrol-unavailable = Coupler kann diese Seite gerade nicht anzeigen. Bitte versuchen Sie es gleich noch einmal.
enrol-not-found = Dieser Anmeldelink ist ungültig. Bitten Sie die App um einen neuen.
enrol-used-title = Dieser Link wurde schon benutzt
enrol-used-completed = Ihre Antwort wurde bereits gespeichert. Kehren Sie zu { $app } zurück, um Ihre Anmeldung zu sehen.
enrol-used-declined = Sie haben bereits abgelehnt. Kehren Sie zu { $app } zurück, wenn Sie doch teilnehmen möchten.
enrol-expired-title = Dieser Link ist abgelaufen
enrol-expired = Anmeldelinks gelten 24 Stunden. Kehren Sie zu { $app } zurück, um einen neuen zu bekommen.
enrol-csrf-title = Bitte versuchen Sie es erneut
enrol-csrf = Dieses Formular kam nicht von der Anmeldeseite in diesem Browser (vielleicht sind Cookies blockiert). Es wurde nichts geändert. Öffnen Sie die Seite erneut, um zu antworten.
enrol-open-again = Seite erneut öffnen

## Warum ein Gerät nicht teilnehmen kann

reason-kind = Dieses Programm nimmt diese Art von Gerät nicht.
reason-capability-missing = Es kann nicht { $can }.
reason-capability-unknown = Es hat uns noch nicht mitgeteilt, ob es { $can } kann; das wird erneut geprüft, sobald es das tut.
reason-outside-area = Es liegt außerhalb des Gebiets, das dieses Programm abdeckt.
reason-location-unknown = Wir wissen nicht, wo es steht, und dieses Programm gilt nur in bestimmten Gebieten. Legen Sie zuerst in der App seinen Standort fest.
reason-already-enrolled = Es ist bereits bei diesem Programm angemeldet.
reason-device-gone = Es ist nicht mehr mit Ihrem Konto verbunden.
can-profiles = einem zugesandten Ladeplan folgen
can-start-stop = aus der Ferne gestartet und gestoppt werden
can-max-current = seinen Ladestrom aus der Ferne senken lassen
can-everything = alles, was das Programm braucht
