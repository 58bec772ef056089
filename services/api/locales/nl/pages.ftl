# De pagina's die een autobezitter ziet: de koppelpagina en de aanmeldpagina van een
# flexibiliteitsprogramma. { $app } is de naam van de app zoals de maker die heeft ingesteld.

## Gedeeld door alle pagina's

the-app = de app
back-to-app = Terug naar { $app }
back-unknown = U kunt deze pagina sluiten en teruggaan naar de app waar u vandaan kwam.
language-label = Taal
logo-alt = Logo van { $app }
run-by = Coupler beheert deze pagina namens { $app }.
error-title = Er ging iets mis
error-send-on = Coupler kan u niet verder sturen. Ga terug naar de app en begin opnieuw.

## De koppelpagina

link-title = Uw auto koppelen
link-heading = { $app } wil verbinding maken met uw auto
link-intro = { $app } gebruikt Coupler om uw auto te bereiken via uw account bij de fabrikant. U logt in bij de fabrikant, niet hier: { $app } ziet uw wachtwoord nooit.
link-access-heading = Wat { $app } mag doen
scope-read-data = Het accuniveau, de actieradius en de laadstatus van uw auto zien, en gegevens zoals het model en het chassisnummer.
scope-read-location = Zien waar uw auto staat, bijvoorbeeld om te weten wanneer hij thuis is.
scope-control-charging = Het laden starten en stoppen, en instellen hoe snel uw auto laadt.
link-privacy-heading = Uw privacy
link-privacy-shared = Coupler geeft deze gegevens alleen door aan { $app }, aan niemand anders. Uw wachtwoord blijft bij de fabrikant van uw auto.
link-privacy-policy = Lees de privacyverklaring van { $app }
link-privacy-stop = U kunt de koppeling altijd verbreken, in { $app } of in de app van uw autofabrikant.
link-next-heading = Wat er nu gebeurt
link-next-choose = U kiest hieronder het merk van uw auto.
link-next-sign-in = U logt in bij { $vendor } en geeft toegang.
link-next-sign-in-any = U logt in met uw account bij de fabrikant van uw auto en geeft toegang.
link-next-back = U komt terug in { $app }, en uw auto verschijnt daar.
link-choose-heading = Kies het merk van uw auto
link-continue = Verder naar { $vendor }
link-cancel = Annuleren en terug naar { $app }
link-vendor-unavailable = Dat merk is niet beschikbaar. Kies er een uit de lijst.
link-not-found-title = Link niet gevonden
link-not-found = Deze link is ongeldig. Vraag de app om een nieuwe.
link-unavailable-title = Koppelen is niet mogelijk
link-unavailable = Coupler kan nu niet verder. Probeer het zo meteen opnieuw.
link-used-title = Deze link is al gebruikt
link-used = Met deze link is al een account gekoppeld. Ga terug naar { $app } om opnieuw te beginnen.
link-ended = Deze link is verlopen. Ga terug naar { $app } om opnieuw te beginnen.
signin-unknown-title = Aanmelding niet herkend
signin-unknown = Deze aanmelding hoort niet bij een lopende koppeling. Ga terug naar de app om opnieuw te beginnen.
signin-used-title = Deze aanmelding is al gebruikt
signin-used = Dit antwoord van de aanmelding is al gebruikt. Ga terug naar { $app } om opnieuw te beginnen.

## De aanmeldpagina van een programma

enrol-runs = { $operator } voert dit programma uit en nodigt u uit om uw apparaten aan te melden.
enrol-what-heading = Wat het programma met uw laden doet
enrol-does-capacity = Tijdens een gebeurtenis beperkt het programma hoeveel stroom uw huis van het net haalt, zodat uw auto langzamer laadt tot de gebeurtenis voorbij is.
enrol-does-shed = Tijdens een gebeurtenis verlaagt het programma uw laden tot onder wat het normaal zou zijn, en meet het verschil.
enrol-does-pause = Tijdens een gebeurtenis pauzeert het laden. Het gaat vanzelf verder als de gebeurtenis voorbij is.
enrol-events-per-year = { $count ->
    [one] Hoogstens 1 gebeurtenis per jaar.
   *[other] Hoogstens { $count } gebeurtenissen per jaar.
}
enrol-events-unlimited = Geen vaste grens aan het aantal gebeurtenissen per jaar.
enrol-event-length = Elke gebeurtenis duurt hoogstens { $duration }.
enrol-no-notice = Een gebeurtenis kan zonder aankondiging beginnen.
enrol-notice = U hoort het minstens { $duration } voordat een gebeurtenis begint.
duration-days = { $count ->
    [one] 1 dag
   *[other] { $count } dagen
}
duration-hours = { $count ->
    [one] 1 uur
   *[other] { $count } uur
}
duration-minutes = { $count ->
    [one] 1 minuut
   *[other] { $count } minuten
}
enrol-get-heading = Wat u krijgt
enrol-no-incentive = Het programma noemt geen vergoeding.
enrol-shared-heading = Wat er gedeeld wordt
enrol-shared-intro = Zolang een apparaat is aangemeld, ontvangt { $operator }:
enrol-rights-heading = Uw keuzes
enrol-rights = Meedoen is uw keuze. Als uw auto gewoon moet laden, kunt u in { $app } afzien van een gebeurtenis, en u kunt altijd uit het programma stappen.
enrol-leave-heading = Zo stapt u uit
enrol-devices = Uw apparaten
enrol-none-eligible = Geen van uw apparaten kan nu aan dit programma meedoen.
enrol-cannot-join = Apparaten die niet kunnen meedoen
enrol-consent = Ik meld de aangevinkte apparaten op deze voorwaarden aan bij { $program } en ga ermee akkoord dat { $operator } de hierboven genoemde gegevens ontvangt.
enrol-submit = Aanmelden
enrol-decline = Nee, bedankt
kind-charger = Laadpaal
kind-car = Auto
kind-ev-system = Auto en laadpaal samen
enrol-ev-system-label = { $car } bij { $charger }
enrol-undecided = Het kan nu meedoen; het doet mee zodra het is gecontroleerd.
enrol-error-choose = Kies Aanmelden of Nee, bedankt.
enrol-error-tick = Vink minstens één apparaat aan.
enrol-error-consent = Vink het vakje aan om met de voorwaarden akkoord te gaan, of kies Nee, bedankt.
enrol-error-cannot = Een aangevinkt apparaat kan (niet meer) meedoen. Controleer de lijst en probeer het opnieuw.
enrol-error-device = { $device } kan niet meer meedoen. Controleer de lijst en probeer het opnieuw.
enrol-error-meanwhile = Een aangevinkt apparaat is intussen aangemeld. Controleer de lijst en probeer het opnieuw.
enrol-unavailable-title = Aanmelden is niet mogelijk
enrol-unavailable = Coupler kan deze pagina nu niet tonen. Probeer het zo meteen opnieuw.
enrol-not-found = Deze aanmeldlink is ongeldig. Vraag de app om een nieuwe.
enrol-used-title = Deze link is al gebruikt
enrol-used-completed = Uw antwoord is al vastgelegd. Ga terug naar { $app } om uw aanmelding te zien.
enrol-used-declined = U hebt al geweigerd. Ga terug naar { $app } als u toch wilt meedoen.
enrol-expired-title = Deze link is verlopen
enrol-expired = Aanmeldlinks werken 24 uur. Ga terug naar { $app } om een nieuwe te krijgen.
enrol-csrf-title = Probeer het opnieuw
enrol-csrf = Dit formulier kwam niet van de aanmeldpagina in deze browser (misschien zijn cookies geblokkeerd). Er is niets veranderd. Open de pagina opnieuw om te antwoorden.
enrol-open-again = Open de pagina opnieuw

## Waarom een apparaat niet kan meedoen

reason-kind = Dit programma neemt dit soort apparaat niet aan.
reason-capability-missing = Het kan niet { $can }.
reason-capability-unknown = Het heeft ons nog niet laten weten of het kan { $can }; dat wordt opnieuw gecontroleerd zodra het dat doet.
reason-outside-area = Het staat buiten het gebied van dit programma.
reason-location-unknown = We weten niet waar het staat, en dit programma geldt alleen in bepaalde gebieden. Stel eerst in de app de locatie in.
reason-already-enrolled = Het is al aangemeld bij dit programma.
reason-device-gone = Het is niet meer met uw account verbonden.
can-profiles = een toegestuurd laadschema volgen
can-start-stop = op afstand gestart en gestopt worden
can-max-current = zijn laadstroom op afstand laten verlagen
can-everything = alles wat het programma nodig heeft
